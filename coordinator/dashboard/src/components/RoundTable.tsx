/** Every committed round of a job, newest first: who took part, the metrics, the time and the model's hash. */
import { formatNumber, formatSeconds } from '../format';
import type { RoundRecord } from '../types';
import { metricSeries } from './RoundCharts';

export function RoundTable({ rounds }: { rounds: readonly RoundRecord[] }) {
  const metrics = metricSeries(rounds);
  const value = (r: RoundRecord, key: string) => {
    const [source, name] = key.split(/:(.*)/);
    return source === 'train' ? r.metrics[name] : r.evaluation?.metrics[name];
  };
  return (
    <div className="table-wrap" role="region" aria-labelledby="rounds-title" tabIndex={0}>
      <table className="rounds" data-testid="round-table">
        <caption id="rounds-title">Rounds, newest first</caption>
        <thead>
          <tr>
            <th scope="col" className="num">Round</th>
            <th scope="col" className="num">Contributed</th>
            <th scope="col" className="num">Failed</th>
            {metrics.map((m) => (
              <th scope="col" className="num" key={m.key}>
                {m.label}
              </th>
            ))}
            <th scope="col" className="num">Duration</th>
            <th scope="col" className="num">Attempts</th>
            <th scope="col">Model SHA-256</th>
          </tr>
        </thead>
        <tbody>
          {rounds.length === 0 && (
            <tr>
              <td colSpan={6 + metrics.length} className="empty">
                No round has closed yet.
              </td>
            </tr>
          )}
          {[...rounds].reverse().map((r) => (
            <tr key={r.round} data-round={r.round}>
              <th scope="row" className="num">{r.round}</th>
              <td className="num" title={r.contributors.map((c) => `${c.participant}: ${c.numSamples} samples`).join('\n')}>
                {r.contributors.length}
              </td>
              <td className="num" title={r.failures.map((f) => `${f.participant}: ${f.reason}`).join('\n') || undefined}>
                {r.failures.length}
              </td>
              {metrics.map((m) => (
                <td className="num" key={m.key}>
                  {formatNumber(value(r, m.key))}
                </td>
              ))}
              <td className="num">{formatSeconds(r.closedAt - r.startedAt)}</td>
              <td className="num">{r.attempts}</td>
              <td>
                <code title={r.modelSha256}>{r.modelSha256.slice(0, 12)}…</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
