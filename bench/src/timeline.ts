/**
 * Where a round's wall time goes between the processes: reads the times light
 * agents note with FL_BENCH_TIMELINE (light-agent.ts) and prints, for the
 * rounds every participant answered, the medians of when the first, second, ...
 * participant had its train request whole, sent its update and had the ack
 * (the coordinator acks once it has checked and folded the update), counted
 * from when the coordinator issued the request; and when it issued the next.
 * The update that completes a round is acked after the round's commit and the
 * next request, which its agent reads first: the last ack says when that agent
 * was done with the next request, not when its update was folded.
 *
 *   FL_BENCH_TIMELINE=t.jsonl node bench/dist/run.js --worker round.n5_d1m
 *   node bench/dist/timeline.js t.jsonl
 *
 * The request's issue time is whole milliseconds, taken just before it is
 * signed and sent; the others are sub-millisecond. Every round of every job
 * counts, the warm-up job's too, whose first rounds run before V8 has
 * optimized the code of a round, so the rounds here run a little longer than
 * the benchmark's figure.
 */
import * as fs from 'node:fs';
import type { TimelineEntry } from './light-agent';
import { median } from './measure';

function main(file: string): void {
  const entries = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TimelineEntry);
  const rounds = new Map<string, TimelineEntry[]>();
  for (const entry of entries) {
    const key = `${entry.job} ${entry.round}`;
    const round = rounds.get(key) ?? [];
    round.push(entry);
    rounds.set(key, round);
  }
  const participants = Math.max(...[...rounds.values()].map((r) => r.length));
  const complete = [...rounds.values()].filter((r) => r.length === participants);
  const columns: Record<'received' | 'sent' | 'acked', number[][]> = { received: [], sent: [], acked: [] };
  const next: number[] = [];
  for (const round of complete) {
    const issued = round[0].issuedAt;
    for (const kind of ['received', 'sent', 'acked'] as const) {
      round
        .map((entry) => entry[kind] - issued)
        .sort((a, b) => a - b)
        .forEach((ms, rank) => (columns[kind][rank] ??= []).push(ms));
    }
    const following = rounds.get(`${round[0].job} ${round[0].round + 1}`);
    if (following) next.push(following[0].issuedAt - issued);
  }
  const cell = (values: number[]) => median(values).toFixed(1).padStart(7);
  const ranks = Array.from({ length: participants }, (_, i) => `#${i + 1}`.padStart(7)).join('');
  const lines = [
    `${complete.length} rounds of ${participants} participants; ms after the train request was issued, medians:`,
    `${''.padEnd(14)}${ranks}`,
    ...(['received', 'sent', 'acked'] as const).map((kind) => `${kind.padEnd(14)}${columns[kind].map(cell).join('')}`),
    `next request ${next.length ? cell(next) : '      -'}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (require.main === module) main(process.argv[2]);
