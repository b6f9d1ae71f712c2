#!/usr/bin/env node
/**
 * `fl-sim` (also `npm run sim -- ...`): federated training simulated on one CSV
 * file with a real coordinator and real agents, against centralized training.
 * `fl-sim --help` lists the flags; the work is in command.ts.
 */
import { runCli } from './command';

// Anything that escapes the run still ends as one line, never a stack trace.
const last = (err: unknown) => {
  process.stderr.write(`fl-sim: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}\n`);
  process.exit(1);
};
process.on('uncaughtException', last);
process.on('unhandledRejection', last);

// Exits once the output is out: a run that failed mid-round leaves agents' timers (an answer awaited from a closed coordinator) that would hold it open for minutes.
void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
