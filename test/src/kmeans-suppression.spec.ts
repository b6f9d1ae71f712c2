/**
 * Small-cell suppression of a k-means job through a running coordinator and
 * three real agents: a site whose policy sets `minClusterRows` holds one row in
 * a cluster of the others' rows, and sends that cluster as zero every round
 * (with the smallest other cluster, so that its total less what it sent gives
 * away no row); the coordinator's retained updates hold no value of that row,
 * the job completes and `audit verify` recomputes it, and the site's log
 * counts what it left out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SqliteStore, STORE_FILE, toArray, verifyStore, type RunningCoordinator } from '@fl/coordinator';
import { parseCsv, prepare, toLocalTable } from '@fl/participant-agent';
import { AuditRecordSchema, decodeWeights, nearestCentre, seededRandom, type AuditData, type JobSpec } from '@fl/shared';
import { AdminApi, startAgent, tempDir, testCoordinator, writeCsv } from './harness';

jest.setTimeout(240_000);

const ROUNDS = 4;
const K = 3;
const BLOBS = [
  [0, 0],
  [10, 10],
  [20, 0],
];
// The site's one row near the third blob: a cluster of one row would be this row.
const LONE = ['20.4', '-0.3'];

/** `perBlob` rows around each of the given blobs, as CSV fields. */
function rows(blobs: number[][], perBlob: number, seed: number): string[][] {
  const random = seededRandom(seed);
  return blobs.flatMap(([x, y]) => Array.from({ length: perBlob }, () => [(x + random() - 0.5).toFixed(3), (y + random() - 0.5).toFixed(3)]));
}

describe('a k-means site under minClusterRows', () => {
  const dir = tempDir('kmeans-suppression');
  const files = [
    writeCsv(path.join(dir, 'site-0.csv'), ['x', 'y'], rows(BLOBS, 20, 1)),
    writeCsv(path.join(dir, 'site-1.csv'), ['x', 'y'], rows(BLOBS, 20, 2)),
    writeCsv(path.join(dir, 'site-cells.csv'), ['x', 'y'], [...rows(BLOBS.slice(0, 2), 20, 3), LONE]),
  ];
  const logs = new Map<string, string[]>();
  let coordinator: RunningCoordinator;
  let jobId: string;

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const names = ['site-0', 'site-1', 'site-cells'];
    const agents = await Promise.all(
      names.map((name, i) => {
        const lines: string[] = [];
        logs.set(name, lines);
        return startAgent(coordinator, name, files[i], { log: (m) => lines.push(m), ...(name === 'site-cells' && { policy: { requireSecureAggregation: false, requireDifferentialPrivacy: false, minClusterRows: 3 } }) });
      }),
    );
    try {
      // No held-out rows: the site trains on every row, the lone one included, every round.
      const job = await AdminApi.of(coordinator).createJob({
        model: 'kmeans',
        k: K,
        features: [
          { name: 'x', type: 'numeric' },
          { name: 'y', type: 'numeric' },
        ],
        rounds: ROUNDS,
        minParticipants: 3,
        evaluateEvery: 0,
      });
      jobId = job.id;
      await coordinator.engine.whenFinished(job.id);
    } finally {
      agents.forEach((a) => a.stop());
      await coordinator.close();
    }
  });

  it('sends the cluster holding its one row as zero every round: no retained update holds a value of that row', async () => {
    const store = await SqliteStore.open(path.join(coordinator.config.dataDir, STORE_FILE), { readonly: true });
    try {
      const job = (await store.getJob(jobId))!;
      expect({ status: job.status, round: job.round }).toEqual({ status: 'completed', round: ROUNDS });
      const preprocessing = job.preprocessing!;
      const jobRows = preprocessing.rows;
      expect(jobRows).toBe(161);
      // The lone row as the site trains on it, and as one row's share of an update would carry it.
      const lone = standardized(job.spec, preprocessing);
      const carried = lone.map((v) => v / jobRows);
      // Each round's commit names its contributors' updates, which the store retains for the audit.
      const commits = (await toArray(store.auditRecords()))
        .map(({ text }) => AuditRecordSchema.parse(JSON.parse(text)))
        .filter((r) => r.kind === 'model.committed' && (r.data as AuditData<'model.committed'>).job === jobId)
        .map((r) => r.data as AuditData<'model.committed'>);
      expect(commits.map((c) => c.round)).toEqual([1, 2, 3, 4]);
      for (const round of commits) {
        expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-0', 'site-1', 'site-cells']);
        const contributor = round.contributors.find((c) => c.participant === 'site-cells')!;
        // Every row the site trained on, those it left out included.
        expect(contributor.numSamples).toBe(41);
        const update = decodeWeights((await store.getRetainedUpdate(jobId, round.round, 'site-cells', contributor.sha256))!)!;
        expect(update).toHaveLength(K * 2 + K);
        for (const value of update) for (const v of carried) expect(Math.abs(value - v)).toBeGreaterThan(Math.abs(v) * 1e-4);
        // The site's rows in the update: its two clusters of 20 but one, left out with the lone row.
        const counts = Array.from(update.subarray(K * 2), (share) => Math.round(share * jobRows));
        expect(counts.reduce((a, b) => a + b, 0)).toBe(20);
        if (round.round === 1) continue;
        // A Lloyd round: the cluster of the lone row under the model the site was sent, its sums and count zero.
        const global = (await store.getModel(jobId, round.round - 1))!.weights;
        const { cluster } = nearestCentre(global, K, 2, lone, 0);
        expect([update[cluster * 2], update[cluster * 2 + 1], update[K * 2 + cluster]]).toEqual([0, 0, 0]);
      }
      // The third blob's centre is the other sites' rows', and the rounds recompute from the updates.
      const last = (await store.getModel(jobId, ROUNDS))!.weights;
      expect(nearestCentre(last, K, 2, lone, 0).distance).toBeLessThan(0.25);
      const report = await verifyStore(store, path.join(coordinator.config.dataDir, STORE_FILE));
      expect(report.failure).toBeUndefined();
      expect(report.counts.roundsRecomputed).toBe(ROUNDS);
    } finally {
      await store.close();
    }
  });

  it('logs, each round, how many clusters and rows it left out; the other sites leave out none', () => {
    const log = logs.get('site-cells')!.join('\n');
    for (let round = 2; round <= ROUNDS; round++) {
      expect(log).toMatch(new RegExp(`job ${jobId} round ${round}: trained on 41 rows in [\\d.]+s, loss [\\d.]+; 2 of 3 clusters suppressed under minClusterRows 3, holding 21 rows; update accepted`));
    }
    expect(log).toMatch(new RegExp(`job ${jobId} round 1: trained on 41 rows in [\\d.]+s, loss NaN; 2 of 3 clusters suppressed under minClusterRows 3, holding 21 rows; update accepted`));
    for (const other of ['site-0', 'site-1']) expect(logs.get(other)!.join('\n')).not.toMatch(/suppressed/);
  });
});

/** The lone row prepared with the job's preprocessing, as the site's agent prepares its rows. */
function standardized(spec: JobSpec, preprocessing: Parameters<typeof prepare>[1]): Float32Array {
  const { table } = toLocalTable(parseCsv(fs.readFileSync(writeCsv(path.join(tempDir('kmeans-lone'), 'lone.csv'), ['x', 'y'], [LONE]))), spec);
  return prepare(table, preprocessing).x;
}
