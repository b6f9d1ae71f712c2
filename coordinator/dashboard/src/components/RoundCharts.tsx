/**
 * The job page's four charts, redrawn as rounds close: losses, the other
 * metrics (training, and evaluation when the job evaluates), participants per
 * round and round duration. Each has a fixed height and a fixed round axis
 * (1 to the job's rounds), so nothing moves while rounds stream in; the round
 * table below holds the same numbers for screen readers.
 */
import type { ReactElement } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatNumber, words } from '../format';
import type { RoundRecord } from '../types';

/** Training in blues, evaluation in oranges, the same in every chart. */
const COLOURS = { train: ['#1d4ed8', '#0e7490', '#4338ca'], eval: ['#c2410c', '#a16207', '#be123c'] };
const CONTRIBUTED = '#047857';
const FAILED = '#be123c';
const HEIGHT = 190;

export interface Series {
  key: string;
  label: string;
  colour: string;
}

/** Every metric the rounds carry: training metrics as reported, then evaluation metrics, prefixed. */
export function metricSeries(rounds: readonly RoundRecord[]): Series[] {
  const keys = { train: new Set<string>(), eval: new Set<string>() };
  for (const r of rounds) {
    Object.keys(r.metrics).forEach((k) => keys.train.add(k));
    Object.keys(r.evaluation?.metrics ?? {}).forEach((k) => keys.eval.add(k));
  }
  const series = (source: 'train' | 'eval', label: (k: string) => string) =>
    [...keys[source]].map((k, i) => ({ key: `${source}:${k}`, label: label(k), colour: COLOURS[source][i % COLOURS[source].length] }));
  return [...series('train', words), ...series('eval', (k) => `evaluation ${words(k)}`)];
}

function chartRows(rounds: readonly RoundRecord[]) {
  return rounds.map((r) => {
    const row: Record<string, number> = {
      round: r.round,
      contributors: r.contributors.length,
      failures: r.failures.length,
      seconds: (r.closedAt - r.startedAt) / 1000,
    };
    for (const [k, v] of Object.entries(r.metrics)) row[`train:${k}`] = v;
    for (const [k, v] of Object.entries(r.evaluation?.metrics ?? {})) row[`eval:${k}`] = v;
    return row;
  });
}

/** Round 1, then round numbers at a round step, up to the job's last round. */
function roundTicks(total: number): number[] {
  const raw = Math.max(1, total / 5);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!;
  const ticks = [1];
  for (let t = step; t <= total; t += step) if (t > 1) ticks.push(t);
  return ticks;
}

/** Three significant digits, so that neighbouring ticks never read the same. */
const tick = (v: number) => String(Number(v.toPrecision(3)));
const isLoss = (s: Series) => /loss/i.test(s.key);

export function RoundCharts({ rounds, totalRounds }: { rounds: readonly RoundRecord[]; totalRounds: number }) {
  const rows = chartRows(rounds);
  const series = metricSeries(rounds);
  const latest = rounds.at(-1);
  const axis = (
    <XAxis dataKey="round" type="number" domain={[0.5, totalRounds + 0.5]} ticks={roundTicks(totalRounds)} allowDecimals={false} tickLine={false} />
  );
  const common = { data: rows, margin: { top: 6, right: 12, bottom: 0, left: 0 } };
  // Evaluations come every k-th round: their points are drawn, not only the line between them.
  const lineChart = (chosen: Series[]) => (
    <LineChart {...common}>
      <CartesianGrid strokeDasharray="3 3" vertical={false} />
      {axis}
      <YAxis width={52} niceTicks="snap125" tickFormatter={tick} domain={['auto', 'auto']} />
      <Tooltip formatter={(v) => formatNumber(Number(v))} labelFormatter={(r) => `Round ${r}`} />
      <Legend itemSorter={null} />
      {chosen.map((s) => (
        <Line
          key={s.key}
          type="linear"
          dataKey={s.key}
          name={s.label}
          stroke={s.colour}
          strokeWidth={2}
          dot={s.key.startsWith('eval:') ? { r: 3, fill: s.colour } : false}
          isAnimationActive={false}
          connectNulls
        />
      ))}
    </LineChart>
  );
  const others = series.filter((s) => !isLoss(s));

  return (
    <div className="charts">
      <Chart id="chart-loss" title="Loss" summary={latest && `round ${latest.round}: train ${formatNumber(latest.metrics.trainLoss)}`}>
        {lineChart(series.filter(isLoss))}
      </Chart>
      <Chart id="chart-metrics" title="Metrics" summary={rounds.length > 0 && others.length === 0 ? 'none reported' : undefined}>
        {lineChart(others)}
      </Chart>
      <Chart id="chart-participants" title="Participants per round" summary={latest && `round ${latest.round}: ${latest.contributors.length} contributed`}>
        <BarChart {...common}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          {axis}
          <YAxis width={52} niceTicks="snap125" allowDecimals={false} />
          <Tooltip labelFormatter={(r) => `Round ${r}`} />
          <Legend itemSorter={null} />
          <Bar dataKey="contributors" name="contributed" stackId="p" fill={CONTRIBUTED} isAnimationActive={false} />
          <Bar dataKey="failures" name="failed" stackId="p" fill={FAILED} isAnimationActive={false} />
        </BarChart>
      </Chart>
      <Chart id="chart-duration" title="Round duration, seconds" summary={latest && `round ${latest.round}: ${((latest.closedAt - latest.startedAt) / 1000).toFixed(2)} s`}>
        <BarChart {...common}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          {axis}
          <YAxis width={52} niceTicks="snap125" tickFormatter={tick} />
          <Tooltip formatter={(v) => `${formatNumber(Number(v), 2)} s`} labelFormatter={(r) => `Round ${r}`} />
          <Bar dataKey="seconds" name="duration" fill={COLOURS.train[0]} isAnimationActive={false} />
        </BarChart>
      </Chart>
    </div>
  );
}

function Chart({ id, title, summary, children }: { id: string; title: string; summary?: string | false; children: ReactElement }) {
  return (
    <figure className="chart" aria-labelledby={`${id}-title`} data-testid={id}>
      <figcaption id={`${id}-title`}>
        {title}
        {summary && <span className="muted"> · {summary}</span>}
      </figcaption>
      <div className="chart-body">
        <ResponsiveContainer width="100%" height={HEIGHT}>
          {children}
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
