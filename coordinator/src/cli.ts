#!/usr/bin/env node
/**
 * `fl-coordinator`: runs the coordinator until SIGINT or SIGTERM, or runs one of
 * the operator's commands (users, audit, key) against a data directory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT, UsageError } from '@fl/shared';
import { CONFIG_OPTIONS, configHelp, loadConfig } from './config/config';
import { describeTls, startCoordinator } from './coordinator';
import { limitHeapGrowth } from './heap';
import { OPERATOR_HELP, OPERATOR_OPTIONS, OperatorError, runOperatorCommand } from './operator';

/** The longest a stop may take (its REST requests get 10 s of it); a service manager's own is longer (systemd: 90 s). */
const STOP_DEADLINE_MS = 60_000;

/** --help (-h) given as a flag, not as the value of one (`--admin-token -h`, `--out -h`). */
function asksHelp(argv: string[]): boolean {
  const options = { ...CONFIG_OPTIONS, ...OPERATOR_OPTIONS, help: { type: 'boolean', short: 'h' } } as const;
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  return tokens.some((token) => token.kind === 'option' && token.name === 'help');
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--version' || argv[0] === '-v') {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`fl-coordinator ${pkg.version}\n`);
    return;
  }
  if (asksHelp(argv)) {
    process.stdout.write(`${configHelp()}\n\n${OPERATOR_HELP}`);
    return;
  }
  if (argv[0] === 'user' || argv[0] === 'audit' || argv[0] === 'key') {
    process.exitCode = await runOperatorCommand(argv, (line) => process.stdout.write(line + '\n'));
    return;
  }
  const config = loadConfig(argv, process.env);
  limitHeapGrowth();
  const coordinator = await startCoordinator(config);
  process.stdout.write(
    `fl-coordinator on ${coordinator.url}\n` +
      `  coordinator key ${coordinator.identity.publicKey} (fingerprint ${coordinator.identity.fingerprint})\n` +
      `  ${coordinator.tls ? `TLS on: ${describeTls(coordinator.tls)}` : 'TLS off: plain HTTP'}\n` +
      `  data directory ${config.dataDir}\n`,
  );
  // Agents are told the coordinator is restarting; running jobs stay as stored and resume at the next start.
  let stopping = false;
  const stop = (status: number) => {
    if (stopping) return;
    stopping = true;
    // A stop that does not end (a database that stopped answering) must not keep the process for ever.
    setTimeout(() => {
      process.stderr.write(`fl-coordinator: stopping took over ${STOP_DEADLINE_MS / 1000} s: exiting without finishing it\n`);
      process.exit(status === EXIT.DONE ? EXIT.FAILED : status);
    }, STOP_DEADLINE_MS).unref();
    coordinator.close().then(
      () => process.exit(status),
      (err: Error) => {
        process.stderr.write(`fl-coordinator: stopping: ${err.stack ?? err.message}\n`);
        process.exit(status === EXIT.DONE ? EXIT.FAILED : status);
      },
    );
  };
  process.once('SIGINT', () => stop(EXIT.DONE));
  process.once('SIGTERM', () => stop(EXIT.DONE));
  // The coordinator logged who took the directory, and is closing itself: the status says it stopped for that.
  void coordinator.takenOver.then(() => stop(EXIT.TAKEN_OVER));
}

main(process.argv.slice(2)).catch((err: Error) => {
  const usage = err instanceof OperatorError || err instanceof UsageError;
  process.stderr.write(`fl-coordinator: ${err.message}\n${err instanceof OperatorError ? `\n${OPERATOR_HELP}` : ''}`);
  process.exit(usage ? EXIT.USAGE : EXIT.FAILED);
});
