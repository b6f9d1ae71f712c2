/** Every committed round of a job, newest first: who took part, the metrics, the time and the model's hash. */
import { formatNumber, formatSeconds } from '../format';
import type { RoundRecord } from '../types';
import { metricSeries } from './RoundCharts';
import { Table, type Column } from './Table';

export function RoundTable({ rounds }: { rounds: readonly RoundRecord[] }) {
  const value = (r: RoundRecord, key: string) => {
    const [source, name] = key.split(/:(.*)/);
    return source === 'train' ? r.metrics[name] : r.evaluation?.metrics[name];
  };
  const metrics = metricSeries(rounds).map(
    (m): Column<RoundRecord> => ({ key: m.key, label: m.label, numeric: true, render: (r) => formatNumber(value(r, m.key)) }),
  );
  return (
    <Table
      rows={[...rounds].reverse()}
      rowKey={(r) => r.round}
      rowData={(r) => ({ round: r.round })}
      caption={{ id: 'rounds-title', text: 'Rounds, newest first' }}
      testId="round-table"
      className="rounds"
      stack={false}
      empty="No round has closed yet."
      columns={[
        { key: 'round', label: 'Round', rowHeader: true, numeric: true, render: (r) => r.round },
        {
          key: 'contributed',
          label: 'Contributed',
          numeric: true,
          title: (r) => r.contributors.map((c) => `${c.participant}: ${c.numSamples} samples`).join('\n'),
          render: (r) => r.contributors.length,
        },
        {
          key: 'failed',
          label: 'Failed',
          numeric: true,
          title: (r) => r.failures.map((f) => `${f.participant}: ${f.reason}`).join('\n') || undefined,
          render: (r) => r.failures.length,
        },
        ...metrics,
        { key: 'duration', label: 'Duration', numeric: true, render: (r) => formatSeconds(r.closedAt - r.startedAt) },
        { key: 'attempts', label: 'Attempts', numeric: true, render: (r) => r.attempts },
        { key: 'sha', label: 'Model SHA-256', render: (r) => <code title={r.modelSha256}>{r.modelSha256.slice(0, 12)}…</code> },
      ]}
    />
  );
}
