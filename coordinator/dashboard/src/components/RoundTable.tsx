/** Every committed round of a job, newest first: who took part, the metrics, the time and the model's hash. */
import { useTranslation } from 'react-i18next';
import { formatCount, formatNumber, formatSeconds } from '../format';
import type { RoundRecord } from '../types';
import { metricSeries } from './RoundCharts';
import { Table, type Column } from './Table';

/** A participant left out, and why: its code first when the coordinator refused what it sent. */
export function describeFailure(f: { participant: string; reason: string; code?: string }): string {
  return `${f.participant}: ${f.code ? `${f.code} ` : ''}${f.reason}`;
}

export function RoundTable({ rounds }: { rounds: readonly RoundRecord[] }) {
  const { t } = useTranslation();
  const value = (r: RoundRecord, key: string) => {
    const [source, name] = key.split(/:(.*)/);
    return source === 'train' ? r.metrics[name] : r.evaluation?.metrics[name];
  };
  // A job with differential privacy: ε spent after each round, at the job's δ.
  const privacy: Column<RoundRecord>[] = rounds.some((r) => r.privacy)
    ? [
        {
          key: 'epsilon',
          label: t('rounds.epsilon'),
          numeric: true,
          testId: 'round-epsilon',
          title: (r) => (r.privacy ? t('rounds.epsilonTitle', { delta: r.privacy.delta }) : undefined),
          render: (r) => formatNumber(r.privacy?.epsilon, 3),
        },
      ]
    : [];
  const metrics = metricSeries(t, rounds).map(
    (m): Column<RoundRecord> => ({ key: m.key, label: m.label, numeric: true, render: (r) => formatNumber(value(r, m.key)) }),
  );
  return (
    <Table
      rows={[...rounds].reverse()}
      rowKey={(r) => r.round}
      rowData={(r) => ({ round: r.round })}
      caption={{ id: 'rounds-title', text: t('rounds.caption') }}
      testId="round-table"
      className="rounds"
      stack={false}
      empty={t('rounds.empty')}
      columns={[
        { key: 'round', label: t('rounds.round'), rowHeader: true, numeric: true, render: (r) => r.round },
        {
          key: 'contributed',
          label: t('rounds.contributed'),
          numeric: true,
          title: (r) => r.contributors.map((c) => t('rounds.samples', { participant: c.participant, count: c.numSamples, samples: formatCount(c.numSamples) })).join('\n'),
          render: (r) => r.contributors.length,
        },
        {
          key: 'failed',
          label: t('rounds.failed'),
          numeric: true,
          title: (r) => r.failures.map(describeFailure).join('\n') || undefined,
          // Each failure's code shows per site: what to fix there, without reading a log.
          render: (r) => {
            const coded = r.failures.filter((f) => f.code);
            if (coded.length === 0) return r.failures.length;
            return (
              <>
                {r.failures.length}
                {coded.map((f) => (
                  <span key={f.participant} className="failure-code" data-testid="failure-code">
                    {f.participant}: <code>{f.code}</code>
                  </span>
                ))}
              </>
            );
          },
        },
        ...metrics,
        ...privacy,
        { key: 'duration', label: t('rounds.duration'), numeric: true, render: (r) => formatSeconds(r.closedAt - r.startedAt) },
        { key: 'attempts', label: t('rounds.attempts'), numeric: true, render: (r) => r.attempts },
        { key: 'sha', label: t('rounds.sha'), render: (r) => <code title={r.modelSha256}>{r.modelSha256.slice(0, 12)}…</code> },
      ]}
    />
  );
}
