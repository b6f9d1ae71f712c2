/**
 * The report's schema (it accepts a well-formed report and refuses metric sets
 * of another model kind, missing keys and NaN) and the SVG chart drawn from a report.
 */
import { SimReportSchema, type SimReport } from './report';
import { niceTicks, renderChart, reportChart } from './plot';
import { DEFAULTS } from './simulate';

const { partition: _, ...settings } = DEFAULTS;

function binaryReport(): SimReport {
  const test = { accuracy: 0.95, auc: 0.99, logLoss: 0.12, f1: 0.93 };
  return {
    config: {
      data: 'data/breast_cancer.csv',
      target: 'diagnosis',
      model: 'logistic',
      positiveClass: 'malignant',
      features: [{ name: 'mean_radius', type: 'numeric' }],
      ...settings,
      parties: 2,
      partition: 'dirichlet:0.5',
      rounds: 2,
    },
    data: { rows: 10, droppedMissingTarget: 0, train: 8, test: 2 },
    partition: [
      { party: 'p1', rows: 5, labelCounts: { benign: 4, malignant: 1 } },
      { party: 'p2', rows: 3, labelCounts: { benign: 0, malignant: 3 } },
    ],
    rounds: [
      { round: 1, participants: 2, trainLoss: 0.41, test: { ...test, accuracy: 0.9 }, seconds: 0.08 },
      { round: 2, participants: 2, trainLoss: 0.3, test, seconds: 0.05 },
    ],
    final: { test },
    centralized: { test: { ...test, accuracy: 0.97 }, epochs: 2, rounds: [{ round: 1, test }, { round: 2, test: { ...test, accuracy: 0.97 } }] },
  };
}

describe('SimReportSchema', () => {
  it('accepts a well-formed report', () => {
    expect(SimReportSchema.safeParse(binaryReport()).error).toBeUndefined();
  });

  it('refuses the metrics of another model kind', () => {
    // Prepare: a logistic report whose final metrics are a regression's
    const report: SimReport = { ...binaryReport(), final: { test: { rmse: 1, mae: 1, r2: 0.5 } } };
    // Execute
    const result = SimReportSchema.safeParse(report);
    // Assert
    expect(result.error?.issues).toEqual([expect.objectContaining({ path: ['final', 'test'], message: 'not the metrics of a logistic model' })]);
  });

  it('refuses a report without its centralized baseline, and NaN for a metric', () => {
    const { centralized: _baseline, ...withoutBaseline } = binaryReport();
    expect(SimReportSchema.safeParse(withoutBaseline).success).toBe(false);
    const report = binaryReport();
    report.final.test = { accuracy: NaN, auc: null, logLoss: 0.1, f1: 0.5 };
    expect(SimReportSchema.safeParse(report).success).toBe(false);
  });

  it('accepts the privacy options, dropouts and ε, and refuses a negative ε or a secure option out of range', () => {
    // Prepare: a secure DP run with dropouts, as fl-sim writes it
    const base = binaryReport();
    const report: SimReport = {
      ...base,
      config: {
        ...base.config,
        secureAggregation: { neighbours: 4, range: 1, maxWeight: 1000, statisticsLevels: 2 ** 20 },
        dropRate: 0.1,
        dp: { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 },
        dataDir: 'store',
      },
      rounds: base.rounds.map((r, i) => ({ ...r, attempts: 1, dropped: i === 0 ? ['p2'] : [], privacy: { epsilon: 4.7 * (i + 1) } })),
      final: { ...base.final, privacy: { epsilon: 9.4, delta: 1e-5 } },
    };
    // Execute, Assert
    expect(SimReportSchema.safeParse(report).error).toBeUndefined();
    expect(SimReportSchema.safeParse({ ...report, final: { ...report.final, privacy: { epsilon: -1, delta: 1e-5 } } }).success).toBe(false);
    expect(SimReportSchema.safeParse({ ...report, config: { ...report.config, secureAggregation: { neighbours: 3, range: 1, maxWeight: 1000 } } }).success).toBe(false);
    expect(SimReportSchema.safeParse({ ...report, config: { ...report.config, dropRate: 1 } }).success).toBe(false);
  });
});

describe('the chart', () => {
  it('puts ticks on round numbers', () => {
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.963, 0.992)).toEqual([0.97, 0.98, 0.99]);
    expect(niceTicks(0.1, 0.35)).toEqual([0.1, 0.15, 0.2, 0.25, 0.3, 0.35]);
    expect(niceTicks(1, 30, 6)).toEqual([5, 10, 15, 20, 25, 30]);
  });

  it('draws both curves with a point per round, a labelled legend and escaped text', () => {
    // Prepare
    const chart = reportChart(binaryReport());
    chart.title = 'a < b & c';
    // Execute
    const svg = renderChart(chart);
    // Assert
    const polylines = [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) => m[1].split(' ').length);
    expect(polylines).toEqual([2, 2]);
    expect(svg.match(/<circle /g)).toHaveLength(2); // dots on the federated curve only
    expect(svg).toContain('stroke-dasharray'); // the centralized curve is dashed
    expect(svg).toContain('federated (FedAvg): 0.950');
    expect(svg).toContain('centralized (pooled data): 0.970');
    expect(svg).toContain('test accuracy (2 held-out rows)');
    expect(svg).toContain('a &lt; b &amp; c');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});
