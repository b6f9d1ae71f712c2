#!/usr/bin/env node
/**
 * The accuracy table of docs/privacy.md: the same fl-sim run as plain FedAvg,
 * under secure aggregation, with central differential privacy, and under secure
 * aggregation with differential privacy at a few noise multipliers, each with its final test metric, its gap
 * to plain FedAvg and its ε, as a Markdown table on standard output (progress
 * on standard error). Takes fl-sim's flags but the privacy ones and --strategy,
 * --json and --plot; --dp-clip and --dp-delta set C and δ (default 1 and 1e-5), e.g.
 *
 *   npm run build && node test/dist/sim/privacy-table.js --data data/breast_cancer.csv \
 *     --target diagnosis --parties 5 --rounds 30
 */
import { DEFAULT_STRATEGY } from '@fl/shared';
import { parseCommandLine } from './command';
import { headline, headlineName } from './evaluate';
import { planSimulation, runSimulation, type SimOptions } from './simulate';

/** The noise multipliers of the DP rows. */
export const TABLE_NOISE = [0.5, 1, 2, 4];
/** Runs of each row with noise, whose draws differ every run (the seeded training does not): the table shows their mean and range. */
const NOISY_RUNS = 3;
/** The central-DP row's noise multiplier: the same σ on the sum as the distributed row with this z. */
const CENTRAL_NOISE_Z = 1;

const points = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value * 100).toFixed(1)}`;

async function main(argv: string[]): Promise<void> {
  const command = parseCommandLine(['--data', 'x', '--target', 'x', ...argv]);
  if (command.help) throw new Error('see fl-sim --help for the flags');
  const { dp: given, ...options } = command.options;
  const clipNorm = given?.clipNorm ?? 1;
  const delta = given?.delta ?? 1e-5;
  const uniform = { ...DEFAULT_STRATEGY, weighting: 'uniform' as const };
  const runs: { label: string; flags: string; options: SimOptions }[] = [
    { label: 'FedAvg', flags: '', options: { ...options, secureAggregation: undefined } },
    { label: 'SecAgg+', flags: '`--secure-agg`', options: { ...options, secureAggregation: {} } },
    { label: 'SecAgg+, uniform weighting', flags: '`--secure-agg --strategy fedavg:weighting=uniform`', options: { ...options, secureAggregation: {}, strategy: uniform } },
    {
      label: `central DP, z = ${CENTRAL_NOISE_Z}`,
      flags: `\`--dp-noise ${CENTRAL_NOISE_Z} --dp-clip ${clipNorm} --dp-delta ${delta}\``,
      options: { ...options, secureAggregation: undefined, dp: { noiseMultiplier: CENTRAL_NOISE_Z, clipNorm, delta } },
    },
    ...TABLE_NOISE.map((z) => ({
      label: `SecAgg+ and DP, z = ${z}`,
      flags: `\`--secure-agg --dp-noise ${z} --dp-clip ${clipNorm} --dp-delta ${delta}\``,
      options: { ...options, secureAggregation: {}, dp: { noiseMultiplier: z, clipNorm, delta } },
    })),
  ];
  const rows: string[] = [];
  let plain: number | undefined;
  let name = 'accuracy';
  for (const run of runs) {
    const plan = planSimulation(run.options);
    const scores: number[] = [];
    let epsilon = '∞ (no DP)';
    for (let i = 0; i < (run.options.dp ? NOISY_RUNS : 1); i++) {
      const report = await runSimulation(plan);
      scores.push(headline(report.final.test)!);
      if (report.final.privacy) epsilon = report.final.privacy.epsilon.toFixed(2);
    }
    name = headlineName(plan.config.model);
    const federated = scores.reduce((a, b) => a + b, 0) / scores.length;
    plain ??= federated;
    const range = scores.length > 1 ? ` (${Math.min(...scores).toFixed(4)}–${Math.max(...scores).toFixed(4)})` : '';
    process.stderr.write(`${run.label}: ${scores.map((v) => v.toFixed(4)).join(', ')}, ε ${epsilon}\n`);
    rows.push(`| ${run.label} | ${run.flags} | ${federated.toFixed(4)}${range} | ${points(federated - plain)} | ${epsilon} |`);
  }
  process.stdout.write(
    [`| aggregation | flags | final ${name} (with noise: mean of ${NOISY_RUNS} runs, range) | against FedAvg, points | ε (δ = ${delta}) |`, '| --- | --- | ---: | ---: | ---: |', ...rows].join('\n') + '\n',
  );
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`privacy-table: ${err.message}\n`);
    process.exit(1);
  });
}
