#!/usr/bin/env node
/**
 * The table of docs/strategies.md: one fl-sim run per strategy on the same
 * data, partition and seed, each against the same centralized baseline, as a
 * Markdown table on standard output (progress on standard error). Takes
 * fl-sim's flags (all but --strategy, --json and --plot), e.g.
 *
 *   npm run build && node test/dist/sim/strategy-table.js --data data/credit_data.csv \
 *     --target Status --parties 20 --partition dirichlet:0.1 --rounds 100
 */
import { formatStrategy, STRATEGY_TITLES, type StrategySpec } from '@fl/shared';
import { parseCommandLine } from './command';
import { headline, headlineName } from './evaluate';
import { planSimulation, runSimulation } from './simulate';
import { parseStrategy } from './strategy';

/** FedAvg first, then each strategy with the parameters the table shows. */
export const TABLE_STRATEGIES = [
  'fedavg',
  'fedavgm:momentum=0.5',
  'fedprox:mu=0.1',
  'fedprox:mu=1',
  'scaffold',
  'fedadam',
  'fedyogi',
  'fedadagrad',
  'median',
  'trimmed-mean:beta=0.2',
  'krum:f=1',
  'krum:f=1,m=10',
  'fedavg:clipNorm=1',
  'fedavg:weighting=uniform',
];

const points = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value * 100).toFixed(1)}`;

async function main(argv: string[]): Promise<void> {
  const command = parseCommandLine(['--data', 'x', '--target', 'x', ...argv]);
  if (command.help) throw new Error('see fl-sim --help for the flags');
  const rows: string[] = [];
  let centralized: number | undefined;
  let name = 'accuracy';
  for (const text of TABLE_STRATEGIES) {
    const strategy: StrategySpec = parseStrategy(text);
    const plan = planSimulation({ ...command.options, strategy });
    const report = await runSimulation(plan);
    name = headlineName(plan.config.model);
    const federated = headline(report.final.test)!;
    centralized ??= headline(report.centralized.test)!;
    const best = Math.max(...report.rounds.map((r) => headline(r.test) ?? -Infinity));
    process.stderr.write(`${formatStrategy(strategy)}: ${federated.toFixed(4)} (centralized ${centralized.toFixed(4)})\n`);
    rows.push(`| ${STRATEGY_TITLES[strategy.name]} | \`${text}\` | ${federated.toFixed(4)} | ${points(federated - centralized)} | ${best.toFixed(4)} |`);
  }
  process.stdout.write(
    [`| strategy | \`--strategy\` | final ${name} | against centralized (${centralized!.toFixed(4)}), points | best round's ${name} |`, '| --- | --- | ---: | ---: | ---: |', ...rows].join('\n') + '\n',
  );
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`strategy-table: ${err.message}\n`);
    process.exit(1);
  });
}
