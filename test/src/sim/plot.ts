/**
 * The simulator's chart as hand-written SVG: the held-out metric per round,
 * federated against centralized, with axes, ticks, labels and a legend. SVG
 * needs no dependency and stays sharp in a README; PNG would need a rasteriser.
 */
import { STRATEGY_TITLES } from '@fl/shared';
import type { SimReport } from './report';
import { headline, headlineName } from './evaluate';

export interface Series {
  name: string;
  points: { x: number; y: number }[];
  color: string;
  dashed?: boolean;
}

export interface Chart {
  title: string;
  subtitle: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** the y axis never goes beyond this (1 for accuracy) */
  yMax?: number;
}

const WIDTH = 760;
const HEIGHT = 470;
const MARGIN = { left: 72, right: 28, top: 70, bottom: 96 };
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round numbers from min to max about `count` apart: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  const span = max - min || Math.abs(max) || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const ticks: number[] = [];
  // Integer multiples of the step, so that 0.1 + 0.2 never prints as 0.30000000000000004.
  for (let i = Math.ceil(min / step - 1e-9); i * step <= max + step * 1e-9; i++) ticks.push(Number((i * step).toPrecision(12)));
  return ticks;
}

const decimals = (ticks: number[]) => Math.max(0, ...ticks.map((t) => (String(t).split('.')[1] ?? '').length));

export function renderChart(chart: Chart): string {
  const xs = chart.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = chart.series.flatMap((s) => s.points.map((p) => p.y));
  if (xs.length === 0) throw new Error('nothing to plot');
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  // A little room above and below the data, so that a line never runs along an axis.
  const spread = Math.max(...ys) - Math.min(...ys) || 0.1;
  let yMin = Math.min(...ys) - spread * 0.08;
  let yMax = Math.max(...ys) + spread * 0.08;
  if (chart.yMax !== undefined) yMax = Math.min(yMax, chart.yMax);
  const yTicks = niceTicks(yMin, yMax);
  yMin = Math.min(yMin, yTicks[0]);
  yMax = Math.max(yMax, yTicks[yTicks.length - 1]);
  const xTicks = niceTicks(xMin, xMax, 6).filter((t) => Number.isInteger(t) && t >= xMin && t <= xMax);

  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number) => MARGIN.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const f = (n: number) => n.toFixed(1);
  const yDecimals = decimals(yTicks);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ${FONT}>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="28" font-size="18" font-weight="600" fill="#111">${escape(chart.title)}</text>`,
    `<text x="${MARGIN.left}" y="50" font-size="13" fill="#555">${escape(chart.subtitle)}</text>`,
  ];
  for (const t of yTicks) {
    out.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${f(py(t))}" y2="${f(py(t))}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${f(py(t) + 4)}" font-size="12" fill="#333" text-anchor="end">${t.toFixed(yDecimals)}</text>`,
    );
  }
  for (const t of xTicks) {
    out.push(
      `<line x1="${f(px(t))}" x2="${f(px(t))}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH + 5}" stroke="#333"/>`,
      `<text x="${f(px(t))}" y="${MARGIN.top + plotH + 20}" font-size="12" fill="#333" text-anchor="middle">${t}</text>`,
    );
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH + 44}" font-size="13" fill="#111" text-anchor="middle">${escape(chart.xLabel)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" font-size="13" fill="#111" text-anchor="middle">${escape(chart.yLabel)}</text>`,
  );
  for (const s of chart.series) {
    const points = s.points.map((p) => `${f(px(p.x))},${f(py(p.y))}`).join(' ');
    const dash = s.dashed ? ' stroke-dasharray="7 5"' : '';
    out.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2.2"${dash}/>`);
    if (!s.dashed) for (const p of s.points) out.push(`<circle cx="${f(px(p.x))}" cy="${f(py(p.y))}" r="2.6" fill="${s.color}"/>`);
  }
  // The legend sits under the x axis, in a row: it can never hide a line.
  const legendY = MARGIN.top + plotH + 74;
  let lx = MARGIN.left;
  for (const s of chart.series) {
    const dash = s.dashed ? ' stroke-dasharray="7 5"' : '';
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${s.color}" stroke-width="2.2"${dash}/>`,
      `<text x="${lx + 36}" y="${legendY}" font-size="13" fill="#111">${escape(s.name)}</text>`,
    );
    lx += 36 + s.name.length * 7.5 + 28;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const known = (points: { x: number; y: number | null }[]) => points.filter((p): p is { x: number; y: number } => p.y !== null);

/** The report's chart: the headline test metric of the global model per round, and of the centralized model after as many epochs. */
export function reportChart(report: SimReport): Chart {
  const { config } = report;
  const metric = headlineName(config.model);
  const label = metric === 'r2' ? 'R²' : metric;
  const final = (value: number | null) => (value === null ? 'undefined' : value.toFixed(3));
  const file = config.data.split(/[\\/]/).pop();
  return {
    title: `${file}: ${config.target ?? `k-means, k = ${config.k}`}, federated vs centralized`,
    subtitle:
      `${config.model}, ${config.parties} parties, ${config.partition}, ${config.rounds} rounds × ${config.localEpochs} epoch${config.localEpochs === 1 ? '' : 's'}, ` +
      `batch ${config.batchSize}, lr ${config.learningRate}, l2 ${config.l2}, seed ${config.seed}`,
    xLabel: `round (centralized: after round × ${config.localEpochs} epoch${config.localEpochs === 1 ? '' : 's'})`,
    yLabel: `test ${label} (${report.data.test} held-out rows)`,
    ...(metric !== 'inertia' && { yMax: 1 }),
    series: [
      {
        name: `federated (${STRATEGY_TITLES[report.config.strategy.name]}): ${final(headline(report.final.test))}`,
        color: '#1f77b4',
        points: known(report.rounds.map((r) => ({ x: r.round, y: headline(r.test) }))),
      },
      {
        name: `centralized (pooled data): ${final(headline(report.centralized.test))}`,
        color: '#e8710a',
        dashed: true,
        points: known(report.centralized.rounds.map((r) => ({ x: r.round, y: headline(r.test) }))),
      },
    ],
  };
}
