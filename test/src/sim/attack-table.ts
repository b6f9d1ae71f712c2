#!/usr/bin/env node
/**
 * The attack table of docs/robustness.md: one fl-sim run without an attack and
 * one per attack with one attacker, all with the fl-sim flags given (a
 * `--strategy` among them names the column), printed as a Markdown table.
 *
 *   node test/dist/sim/attack-table.js --data data/breast_cancer.csv --target diagnosis --parties 5 --seed 42
 */
import { parseAttack } from './attack';
import { parseCommandLine } from './command';
import { headline, headlineName } from './evaluate';
import { planSimulation, runSimulation } from './simulate';

/** The attacks of the table, one attacker each. */
export const TABLE_ATTACKS = [
  'sign-flip:10',
  'scale:10',
  'gaussian:1',
  'label-flip',
  'inflate-samples:1000000',
  'inflate-samples:1000000000',
  'nan',
  'huge-weights:3e38',
  'huge-weights:-1e30',
  'huge-sums:1e300',
  'extra-class',
];

async function main(argv: string[]): Promise<void> {
  const command = parseCommandLine(argv);
  if (command.help) throw new Error('attack-table takes fl-sim\'s flags (fl-sim --help), less --attack and --attackers');
  const { options } = command;
  const at = argv.indexOf('--strategy');
  const column = at >= 0 ? argv[at + 1] : 'fedavg';
  const metric = headlineName(planSimulation(options).config.model);
  const run = async (attack?: string) => {
    const report = await runSimulation(planSimulation({ ...options, ...(attack && { attack: parseAttack(attack), attackers: 1 }) }));
    const leftOut = report.attack
      ? [...report.attack.excludedFromJob.map((e) => `job: ${e.split(' ')[1]}`), ...Object.entries(report.attack.updatesLeftOut).map(([code, n]) => `${n} rounds: ${code}`)]
      : [];
    return { value: headline(report.final.test), leftOut: leftOut.join(', ') || '–' };
  };
  const show = (v: number | null) => (v === null ? '–' : v.toFixed(4));
  const clean = await run();
  const lines = [`| attack (1 of ${options.parties ?? 3}) | ${column}: ${metric} | left out by the coordinator |`, '| --- | --- | --- |', `| none | ${show(clean.value)} | – |`];
  process.stdout.write(lines.join('\n') + '\n');
  for (const attack of TABLE_ATTACKS) {
    const { value, leftOut } = await run(attack);
    process.stdout.write(`| \`${attack}\` | ${show(value)} | ${leftOut} |\n`);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`attack-table: ${err.message}\n`);
  process.exit(1);
});
