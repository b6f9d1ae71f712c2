#!/usr/bin/env node
/**
 * The attack tables of docs/robustness.md: for each strategy of the table, one
 * fl-sim run without an attack and one per attack with one attacker, all with
 * the fl-sim flags given, printed as a Markdown table with a column per
 * strategy. A `--strategy` among the flags prints that strategy's column alone.
 *
 *   node test/dist/sim/attack-table.js --data data/breast_cancer.csv --target diagnosis --parties 5 --seed 42
 */
import { parseAttack } from './attack';
import { parseCommandLine } from './command';
import { headline, headlineName } from './evaluate';
import { planSimulation, runSimulation } from './simulate';
import { parseStrategy } from './strategy';

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
  'shift-means:100',
];

/** FedAvg, the robust aggregates, and FedAvg with norm bounding. */
export const TABLE_STRATEGIES = ['fedavg', 'median', 'trimmed-mean:beta=0.2', 'krum:f=1', 'fedavg:clipNorm=1'];

async function main(argv: string[]): Promise<void> {
  const command = parseCommandLine(argv);
  if (command.help) throw new Error('attack-table takes fl-sim\'s flags (fl-sim --help), less --attack and --attackers');
  const { options } = command;
  const at = argv.indexOf('--strategy');
  const columns = at >= 0 ? [argv[at + 1]] : TABLE_STRATEGIES;
  const metric = headlineName(planSimulation(options).config.model);
  const run = async (strategy: string, attack?: string) => {
    const report = await runSimulation(planSimulation({ ...options, strategy: parseStrategy(strategy), ...(attack && { attack: parseAttack(attack), attackers: 1 }) }));
    const leftOut = report.attack
      ? [...report.attack.excludedFromJob.map((e) => `job: ${e.split(' ')[1]}`), ...Object.entries(report.attack.updatesLeftOut).map(([code, n]) => `${n} rounds: ${code}`)]
      : [];
    return { value: headline(report.final.test), leftOut: leftOut.join(', ') || '–' };
  };
  const show = (v: number | null) => (v === null ? '–' : v.toFixed(4));
  const header = `| attack (1 of ${options.parties ?? 3}) | ${columns.map((c) => `\`${c}\``).join(' | ')} | left out by the coordinator |`;
  process.stdout.write(`${metric}\n\n${header}\n| --- |${' ---: |'.repeat(columns.length)} --- |\n`);
  for (const attack of [undefined, ...TABLE_ATTACKS]) {
    const results = [];
    for (const strategy of columns) results.push(await run(strategy, attack));
    // The checks come before any strategy, so every column leaves out the same; shown once unless they differ.
    const leftOut = [...new Set(results.map((r) => r.leftOut))].join(' / ');
    process.stdout.write(`| ${attack ? `\`${attack}\`` : 'none'} | ${results.map((r) => show(r.value)).join(' | ')} | ${leftOut} |\n`);
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`attack-table: ${err.message}\n`);
  process.exit(1);
});
