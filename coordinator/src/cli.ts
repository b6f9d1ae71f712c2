#!/usr/bin/env node
/**
 * `fl-coordinator`: runs the coordinator until SIGINT or SIGTERM, or runs one of
 * the operator's commands (users, audit) against a data directory.
 */
import { configHelp, loadConfig } from './config/config';
import { describeTls, startCoordinator } from './coordinator';
import { OPERATOR_HELP, OperatorError, runOperatorCommand } from './operator';

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${configHelp()}\n\n${OPERATOR_HELP}`);
    return;
  }
  if (argv[0] === 'user' || argv[0] === 'audit') {
    process.exitCode = await runOperatorCommand(argv, (line) => process.stdout.write(line + '\n'));
    return;
  }
  const config = loadConfig(argv, process.env);
  const coordinator = await startCoordinator(config);
  process.stdout.write(
    `fl-coordinator on ${coordinator.url}\n` +
      `  coordinator key ${coordinator.identity.publicKey} (fingerprint ${coordinator.identity.fingerprint})\n` +
      `  ${coordinator.tls ? `TLS on: ${describeTls(coordinator.tls)}` : 'TLS off: plain HTTP'}\n` +
      `  data directory ${config.dataDir}\n`,
  );
  const stop = () => void coordinator.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`fl-coordinator: ${err.message}\n${err instanceof OperatorError ? `\n${OPERATOR_HELP}` : ''}`);
  process.exit(err instanceof OperatorError ? 64 : 1);
});
