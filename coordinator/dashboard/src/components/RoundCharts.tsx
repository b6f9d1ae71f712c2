/**
 * The job page's four charts, redrawn as rounds close: losses, the other
 * metrics (training, and evaluation when the job evaluates), participants per
 * round and round duration. Each has a fixed height and a fixed round axis
 * (1 to the job's rounds), so nothing moves while rounds stream in; the round
 * table below holds the same numbers for screen readers.
 */
import type { TFunction } from 'i18next';
import type { ReactElement } from 'react';
import { useTranslation } from 'react-i18next';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatNumber, formatSeconds, formatSignificant } from '../format';
import { metricName } from '../messages';
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
export function metricSeries(t: TFunction, rounds: readonly RoundRecord[]): Series[] {
  const keys = { train: new Set<string>(), eval: new Set<string>() };
  for (const r of rounds) {
    Object.keys(r.metrics).forEach((k) => keys.train.add(k));
    Object.keys(r.evaluation?.metrics ?? {}).forEach((k) => keys.eval.add(k));
  }
  const series = (source: 'train' | 'eval', label: (k: string) => string) =>
    [...keys[source]].map((k, i) => ({ key: `${source}:${k}`, label: label(k), colour: COLOURS[source][i % COLOURS[source].length] }));
  return [...series('train', (k) => metricName(t, k)), ...series('eval', (k) => t('charts.evaluationOf', { metric: metricName(t, k) }))];
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
const tick = (v: number) => formatSignificant(v, 3);
const isLoss = (s: Series) => /loss/i.test(s.key);

export function RoundCharts({ rounds, totalRounds }: { rounds: readonly RoundRecord[]; totalRounds: number }) {
  const { t } = useTranslation();
  const rows = chartRows(rounds);
  const series = metricSeries(t, rounds);
  const roundLabel = (r: unknown) => t('charts.round', { round: r });
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
      <Tooltip formatter={(v) => formatNumber(Number(v))} labelFormatter={roundLabel} />
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
      <Chart id="chart-loss" title={t('charts.loss')} summary={latest && t('charts.lossSummary', { round: latest.round, loss: formatNumber(latest.metrics.trainLoss) })}>
        {lineChart(series.filter(isLoss))}
      </Chart>
      <Chart id="chart-metrics" title={t('charts.metrics')} summary={rounds.length > 0 && others.length === 0 ? t('charts.noneReported') : undefined}>
        {lineChart(others)}
      </Chart>
      <Chart
        id="chart-participants"
        title={t('charts.participants')}
        summary={latest && t('charts.participantsSummary', { round: latest.round, count: latest.contributors.length })}
      >
        <BarChart {...common}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          {axis}
          <YAxis width={52} niceTicks="snap125" allowDecimals={false} />
          <Tooltip labelFormatter={roundLabel} />
          <Legend itemSorter={null} />
          <Bar dataKey="contributors" name={t('charts.contributed')} stackId="p" fill={CONTRIBUTED} isAnimationActive={false} />
          <Bar dataKey="failures" name={t('charts.failed')} stackId="p" fill={FAILED} isAnimationActive={false} />
        </BarChart>
      </Chart>
      <Chart
        id="chart-duration"
        title={t('charts.duration')}
        summary={latest && t('charts.durationSummary', { round: latest.round, duration: formatSeconds(latest.closedAt - latest.startedAt) })}
      >
        <BarChart {...common}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} />
          {axis}
          <YAxis width={52} niceTicks="snap125" tickFormatter={tick} />
          <Tooltip formatter={(v) => formatSeconds(Number(v) * 1000)} labelFormatter={roundLabel} />
          <Bar dataKey="seconds" name={t('charts.durationSeries')} fill={COLOURS.train[0]} isAnimationActive={false} />
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
