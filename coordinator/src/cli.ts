#!/usr/bin/env node
/** `fl-coordinator`: runs the coordinator until SIGINT or SIGTERM. */
import { configHelp, loadConfig } from './config/config';
import { startCoordinator } from './coordinator';

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(configHelp() + '\n');
    return;
  }
  const config = loadConfig(argv, process.env);
  const coordinator = await startCoordinator(config);
  process.stdout.write(
    `fl-coordinator on ${coordinator.url}\n` +
      `  coordinator key ${coordinator.identity.publicKey} (fingerprint ${coordinator.identity.fingerprint})\n` +
      `  data directory ${config.dataDir}${config.adminToken ? '' : `; admin token in ${config.dataDir}/admin-token`}\n`,
  );
  const stop = () => void coordinator.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`fl-coordinator: ${err.message}\n`);
  process.exit(1);
});
