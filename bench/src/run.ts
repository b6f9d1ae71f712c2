/**
 * `npm run bench`: runs the benchmark suite, prints a table against the targets
 * and writes bench/results.json (figure name -> number, plus `meta`).
 *
 *   node bench/dist/run.js [--only NAME[,NAME...]]
 *
 * NAME is a figure (`round.n5_d100.ms`) or any prefix of figures (`round`,
 * `round.n5`, `scale`). Each benchmark runs in a fresh worker process (this script with
 * `--worker`), so that one's memory, JIT state and backend do not bleed into
 * another's, and a figure such as the coordinator's memory is its alone.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { limitHeapGrowth } from '@fl/coordinator/dist/heap';
import { auditBench } from './audit';
import { floodBench } from './flood';
import { ingestBench } from './ingest';
import { aggregateBench, trainBench, verifyBench } from './micro';
import { roundD100, roundD1m, scaleN500, secaggOverhead, transferD10m } from './rounds';
import { replicas2 } from './replicas';
import { secaggBench } from './secagg';

interface Figure {
  name: string;
  unit: string;
  /** with `of`, the target is value times that figure of the same run (no figure: not judged) */
  target: { value: number; better: 'higher' | 'lower'; of?: string };
  /** Flower 1.6's round on the same work, ms, the range of its runs on machines of this kind (bench/flower/round.py) */
  flower?: string;
}

interface Bench {
  id: string;
  figures: Figure[];
  run: () => Promise<Record<string, number>>;
}

const at = (value: number, better: 'higher' | 'lower', of?: string) => ({ value, better, of });

const BENCHES: Bench[] = [
  { id: 'train', figures: [{ name: 'train.logistic.samplesPerSec', unit: 'samples/s', target: at(1_000_000, 'higher') }], run: trainBench },
  { id: 'aggregate', figures: [{ name: 'aggregate.fedavg.gbPerSec', unit: 'GB/s', target: at(2, 'higher') }], run: aggregateBench },
  { id: 'verify', figures: [{ name: 'verify.perSec', unit: '/s', target: at(5_000, 'higher') }], run: verifyBench },
  {
    id: 'audit',
    figures: [
      { name: 'audit.log_100k.pageMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'audit.log_100k.filteredMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'audit.log_100k.indexSeconds', unit: 's', target: at(Infinity, 'lower') },
      { name: 'audit.log_100k.indexCheckSeconds', unit: 's', target: at(Infinity, 'lower') },
    ],
    run: auditBench,
  },
  { id: 'flood', figures: [{ name: 'flood.statistics_29mb.maxStallMs', unit: 'ms', target: at(Infinity, 'lower') }], run: floodBench },
  {
    id: 'round.n5_d100',
    figures: [{ name: 'round.n5_d100.ms', unit: 'ms', target: at(10, 'lower'), flower: '22–28' }],
    run: async () => ({ 'round.n5_d100.ms': await roundD100(5) }),
  },
  {
    id: 'round.n20_d100',
    figures: [{ name: 'round.n20_d100.ms', unit: 'ms', target: at(35, 'lower'), flower: '81–119' }],
    run: async () => ({ 'round.n20_d100.ms': await roundD100(20) }),
  },
  {
    id: 'round.n5_d1m',
    figures: [{ name: 'round.n5_d1m.ms', unit: 'ms', target: at(90, 'lower'), flower: '355–476' }],
    run: async () => ({ 'round.n5_d1m.ms': await roundD1m(5) }),
  },
  {
    id: 'scale',
    figures: [
      { name: 'scale.n500.coordinatorRssMb', unit: 'MiB', target: at(300, 'lower') },
      { name: 'scale.n500_d100.roundMs', unit: 'ms', target: at(1000, 'lower') },
    ],
    run: scaleN500,
  },
  {
    id: 'scale.replicas2',
    figures: [
      { name: 'scale.replicas2_n2000.roundMs', unit: 'ms', target: at(2000, 'lower') },
      { name: 'scale.replicas2_n2000.replicaRssMb', unit: 'MiB', target: at(400, 'lower') },
    ],
    run: replicas2,
  },
  {
    id: 'transfer',
    figures: [{ name: 'transfer.d10m.seconds', unit: 's', target: at(5, 'lower') }],
    run: async () => ({ 'transfer.d10m.seconds': await transferD10m() }),
  },
  {
    id: 'ingest',
    figures: [
      { name: 'ingest.csv_1m_x30.seconds', unit: 's', target: at(2, 'lower', 'ingest.pandas_1m_x30.seconds') },
      { name: 'ingest.csv_1m_x30.peakRssMb', unit: 'MiB', target: at(2, 'lower', 'ingest.pandas_1m_x30.peakRssMb') },
      { name: 'ingest.csv_1m_x30_converted.seconds', unit: 's', target: at(1.25, 'lower', 'ingest.csv_1m_x30.seconds') },
      { name: 'ingest.pandas_1m_x30.seconds', unit: 's', target: at(Infinity, 'lower') },
      { name: 'ingest.pandas_1m_x30.peakRssMb', unit: 'MiB', target: at(Infinity, 'lower') },
    ],
    run: ingestBench,
  },
  {
    id: 'secagg',
    figures: [
      { name: 'secagg.n5_d100.partyMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n5_d100.unmaskMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n5_d100k.partyMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n5_d100k.unmaskMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n20_d100.partyMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n20_d100.unmaskMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n20_d100k.partyMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n20_d100k.unmaskMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n100_d100.partyMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n100_d100.unmaskMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n100_d100k.partyMs', unit: 'ms', target: at(Infinity, 'lower') },
      { name: 'secagg.n100_d100k.unmaskMs', unit: 'ms', target: at(Infinity, 'lower') },
    ],
    run: secaggBench,
  },
  ...([5, 20, 100] as const).flatMap((n) =>
    ([100, 100_000] as const).map((d): Bench => {
      const id = `secagg.n${n}_d${d === 100 ? '100' : '100k'}`;
      return {
        id,
        figures: [
          // End to end on this machine: every agent shares its cores with the coordinator.
          { name: `${id}.overhead`, unit: 'x plain', target: at(Infinity, 'lower') },
          { name: `${id}.plainMs`, unit: 'ms', target: at(Infinity, 'lower') },
          { name: `${id}.secureMs`, unit: 'ms', target: at(Infinity, 'lower') },
          // The issue's target, a secure round at most 3x a plain one at n = 20, d = 100,000, on the critical path of separate sites (docs/performance.md).
          { name: `${id}.sitesOverhead`, unit: 'x plain', target: at(id === 'secagg.n20_d100k' ? 3 : Infinity, 'lower') },
          { name: `${id}.plainSitesMs`, unit: 'ms', target: at(Infinity, 'lower') },
          { name: `${id}.secureSitesMs`, unit: 'ms', target: at(Infinity, 'lower') },
        ],
        run: () => secaggOverhead(n, d),
      };
    }),
  ),
];

const RESULT_MARK = 'BENCH-RESULT ';
const RESULTS_FILE = path.join(__dirname, '..', 'results.json');

/** Runs one benchmark in this process and prints its figures on one marked line. */
async function worker(id: string): Promise<void> {
  const bench = BENCHES.find((b) => b.id === id);
  if (!bench) throw new Error(`no benchmark ${id}`);
  // Exit on a signal rather than die of it, so that 'exit' handlers stop the agents this worker started.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  // This process runs the coordinator, so it makes fl-coordinator's heap setting.
  limitHeapGrowth();
  const figures = await bench.run();
  process.stdout.write(RESULT_MARK + JSON.stringify(figures) + '\n');
  // Socket.IO clients, timers or the TF.js runtime may hold the loop open.
  process.exit(0);
}

function runWorker(id: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, '--worker', id], { stdio: ['ignore', 'pipe', 'inherit'] });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk));
    child.once('exit', (code) => {
      process.off('SIGINT', forward).off('SIGTERM', forward);
      if (code === 130) process.exit(130);
      const line = output.split('\n').find((l) => l.startsWith(RESULT_MARK));
      if (code === 0 && line) resolve(JSON.parse(line.slice(RESULT_MARK.length)) as Record<string, number>);
      else reject(new Error(`benchmark ${id} exited ${code}`));
    });
  });
}

function selected(only: string[] | undefined): Bench[] {
  if (!only) return BENCHES;
  const matches = (name: string) => only.some((prefix) => name.startsWith(prefix));
  const chosen = BENCHES.filter((b) => matches(b.id) || b.figures.some((f) => matches(f.name)));
  if (chosen.length === 0) throw new Error(`--only ${only.join(',')} names no benchmark; figures: ${BENCHES.flatMap((b) => b.figures.map((f) => f.name)).join(', ')}`);
  return chosen;
}

const format = (value: number) =>
  value >= 1e5 ? Math.round(value).toLocaleString('en-US') : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);

function table(benches: Bench[], results: Record<string, number>): string {
  const rows = [['figure', 'value', 'unit', 'target', 'Flower 1.6', 'met']];
  for (const { figures } of benches) {
    for (const f of figures) {
      const value = results[f.name];
      const goal = f.target.of ? f.target.value * (results[f.target.of] ?? NaN) : f.target.value;
      const met =
        value === undefined ? 'failed' : !Number.isFinite(goal) ? '-' : (f.target.better === 'higher' ? value >= goal : value <= goal) ? 'yes' : 'no';
      const target = !Number.isFinite(goal) ? '' : `${f.target.better === 'higher' ? '≥' : '≤'} ${format(goal)}${f.target.of ? ` (${f.target.value}x)` : ''}`;
      rows.push([f.name, value === undefined ? '-' : format(value), f.unit, target, f.flower ? `${f.flower} ms` : '', met]);
    }
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 1 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, worker: { type: 'string' } }, strict: true });
  if (values.worker) return worker(values.worker);
  const benches = selected(values.only?.split(',').map((s) => s.trim()).filter(Boolean));
  const results: Record<string, number> = {};
  let failures = 0;
  for (const bench of benches) {
    process.stderr.write(`bench ${bench.id} ...\n`);
    try {
      Object.assign(results, await runWorker(bench.id));
    } catch (err) {
      failures++;
      process.stderr.write(`bench ${bench.id} failed: ${(err as Error).message}\n`);
    }
  }
  const meta = {
    node: process.version,
    cpu: `${os.cpus()[0]?.model ?? 'unknown'} x ${os.availableParallelism()}`,
    date: new Date().toISOString(),
  };
  fs.writeFileSync(RESULTS_FILE, JSON.stringify({ ...results, meta }, null, 2) + '\n');
  process.stdout.write(`${table(benches, results)}\n\n${meta.node}, ${meta.cpu}; written to bench/results.json\n`);
  process.exitCode = failures ? 1 : 0;
}

main().catch((err: Error) => {
  process.stderr.write(`bench: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
