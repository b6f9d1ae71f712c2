/**
 * Tampering with what the coordinator stored: after a real federated job, one
 * byte of an audit record, a retained update or a global model is changed at a
 * time, and `audit verify` must fail and name exactly that item. A clean store
 * verifies, with every round recomputed from the retained updates.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { SqliteStore, STORE_FILE, verifyStore } from '@fl/coordinator';
import { AUDIT_ANCHORS_FILE, AuditRecordSchema, encodeKey, generateKeyPair, parseAnchors, seededRandom, type AuditAnchor, type AuditReport } from '@fl/shared';
import { AdminApi, DATA_DIR, eventually, featuresOf, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { COORDINATOR_CLI } from './processes';

jest.setTimeout(180_000);

const ROUNDS = 3;

describe('audit verify against a tampered store', () => {
  let file: string;
  let db: Database.Database;
  let store: SqliteStore;
  /** the heads the external anchor sink received */
  const sunk: AuditAnchor[] = [];
  let sink: http.Server;

  beforeAll(async () => {
    sink = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        sunk.push(JSON.parse(body) as AuditAnchor);
        res.end();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const coordinator = await testCoordinator({ auditAnchorUrl: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/anchors` });
    const dataFile = path.join(DATA_DIR, 'breast_cancer.csv');
    const split = splitCsv(dataFile, 3, { seed: 3, holdout: 0, dir: tempDir('tamper-data') });
    const agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party)));
    const job = await AdminApi.of(coordinator).createJob({
      model: 'logistic',
      features: featuresOf(dataFile, 'diagnosis'),
      target: 'diagnosis',
      rounds: ROUNDS,
      minParticipants: 3,
      evaluateEvery: 0,
    });
    await coordinator.engine.whenFinished(job.id);
    // Acts whose records no table of the store reflects: cut from the end, only the anchors can tell.
    for (const organisation of ['Late Bank', 'Later Bank']) await AdminApi.of(coordinator).request('POST', '/api/invitations', { organisation, country: 'NL' });
    agents.forEach((a) => a.stop());
    await coordinator.close();
    // Tampered on a copy: the checkpoint above left everything in the main file.
    const copy = tempDir('tamper');
    file = path.join(copy, STORE_FILE);
    fs.copyFileSync(path.join(coordinator.config.dataDir, STORE_FILE), file);
    fs.copyFileSync(path.join(coordinator.config.dataDir, AUDIT_ANCHORS_FILE), path.join(copy, AUDIT_ANCHORS_FILE));
    db = new Database(file);
    store = await SqliteStore.open(file, { readonly: true });
  });

  afterAll(async () => {
    await store?.close();
    db?.close();
    sink?.close();
  });

  const verify = (): Promise<AuditReport> => verifyStore(store, file);

  /** Changes one byte of a column, runs the verifier, and puts the byte back. */
  async function withFlippedByte(table: string, column: string, where: string, params: unknown[], offset: number): Promise<AuditReport> {
    const [row] = db.prepare(`SELECT CAST(${column} AS BLOB) AS bytes FROM ${table} WHERE ${where}`).all(...params) as { bytes: Buffer }[];
    const original = Buffer.from(row.bytes);
    const changed = Buffer.from(original);
    changed[offset] ^= 0x01;
    // Text columns get text back, blobs get blobs: the stored type must not be what gives the change away.
    const cast = table === 'audit' ? 'CAST(? AS TEXT)' : '?';
    const write = db.prepare(`UPDATE ${table} SET ${column} = ${cast} WHERE ${where}`);
    write.run(changed, ...params);
    try {
      return (await verify());
    } finally {
      write.run(original, ...params);
    }
  }

  it('verifies the untouched store, every round recomputed', async () => {
    const report = (await verify());
    expect(report.failure).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.counts.roundsRecomputed).toBe(ROUNDS);
    expect(report.counts.updatesChecked).toBe(3 * ROUNDS);
  });

  it('names the audit record when any byte of any record changes', async () => {
    const records = db.prepare('SELECT seq, length(CAST(record AS BLOB)) AS size FROM audit ORDER BY seq').all() as { seq: number; size: number }[];
    expect(records.length).toBeGreaterThan(3 * ROUNDS);
    const random = seededRandom(7);
    // Every byte of the smallest record, and three bytes (first, last, one at random) of every other one.
    const smallest = records.reduce((a, b) => (b.size < a.size ? b : a));
    for (const { seq, size } of records) {
      const offsets = seq === smallest.seq ? [...Array(size).keys()] : [0, size - 1, Math.floor(random() * size)];
      for (const offset of offsets) {
        const report = await withFlippedByte('audit', 'record', 'seq = ?', [seq], offset);
        expect({ seq, offset, ok: report.ok }).toEqual({ seq, offset, ok: false });
        expect({ seq, offset, where: report.failure?.where }).toEqual({ seq, offset, where: expect.stringContaining(`audit record ${seq} `) });
      }
    }
  });

  it('names the update when any byte of a retained update changes', async () => {
    const updates = db.prepare('SELECT job, round, participant, sha256, length(weights) AS size FROM updates').all() as {
      job: string; round: number; participant: string; sha256: string; size: number;
    }[];
    expect(updates).toHaveLength(3 * ROUNDS);
    for (const [i, u] of updates.entries()) {
      const offsets = i === 0 ? [...Array(u.size).keys()] : [0, u.size - 1];
      for (const offset of offsets) {
        const report = await withFlippedByte('updates', 'weights', 'job = ? AND round = ? AND participant = ? AND sha256 = ?', [u.job, u.round, u.participant, u.sha256], offset);
        expect(report.ok).toBe(false);
        expect(report.failure?.where).toContain(`update of ${u.participant}, round ${u.round} of job ${u.job}`);
      }
    }
  });

  it('names the global model when any byte of a stored model changes', async () => {
    const models = db.prepare('SELECT job, round, length(weights) AS size FROM models ORDER BY round').all() as { job: string; round: number; size: number }[];
    expect(models).toHaveLength(ROUNDS + 1);
    for (const m of models) {
      const offsets = m.round === ROUNDS ? [...Array(m.size).keys()] : [0, m.size - 1];
      for (const offset of offsets) {
        const report = await withFlippedByte('models', 'weights', 'job = ? AND round = ?', [m.job, m.round], offset);
        expect(report.ok).toBe(false);
        expect(report.failure?.where).toContain(`global model of round ${m.round} of job ${m.job}`);
      }
    }
  });

  it('fails when a record is deleted from the middle of the log', async () => {
    const middle = db.prepare('SELECT seq, record FROM audit ORDER BY seq LIMIT 1 OFFSET 5').get() as { seq: number; record: string };
    db.prepare('DELETE FROM audit WHERE seq = ?').run(middle.seq);
    try {
      const report = (await verify());
      expect(report.ok).toBe(false);
      expect(report.failure?.where).toContain(`audit record ${middle.seq + 1} `);
    } finally {
      db.prepare('INSERT INTO audit (seq, record) VALUES (?, ?)').run(middle.seq, middle.record);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('names a participant whose key or status in the store is not what the log says', async () => {
    const { name, public_key: key } = db.prepare('SELECT name, public_key FROM participants ORDER BY name LIMIT 1').get() as { name: string; public_key: string };
    const swap = db.prepare('UPDATE participants SET public_key = ? WHERE name = ?');
    swap.run(encodeKey(generateKeyPair().publicKey), name);
    try {
      expect((await verify()).failure).toEqual({ where: `participant ${name} (table participants of ${file})`, reason: 'its public key is not the one the audit log registered' });
    } finally {
      swap.run(key, name);
    }
    db.prepare("UPDATE participants SET status = 'pending' WHERE name = ?").run(name);
    try {
      expect((await verify()).failure?.reason).toBe('it is pending, the audit log says approved');
    } finally {
      db.prepare("UPDATE participants SET status = 'approved' WHERE name = ?").run(name);
    }
  });

  it('names a committed round the log does not account for', async () => {
    const round = db.prepare('SELECT job, round, model_sha256 FROM rounds ORDER BY round DESC LIMIT 1').get() as { job: string; round: number; model_sha256: string };
    const set = db.prepare('UPDATE rounds SET model_sha256 = ? WHERE job = ? AND round = ?');
    set.run('0'.repeat(64), round.job, round.round);
    try {
      expect((await verify()).failure).toEqual({
        where: `round ${round.round} of job ${round.job} (table rounds of ${file})`,
        reason: 'its model hash is not the one the audit log committed',
      });
    } finally {
      set.run(round.model_sha256, round.job, round.round);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('makes `fl-coordinator audit verify` exit non-zero and name the record', async () => {
    const dir = path.dirname(file);
    const clean = await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', dir]);
    expect(clean.stdout).toMatch(new RegExp(`${ROUNDS} recomputed`));
    const seq = 4;
    const [row] = db.prepare('SELECT record FROM audit WHERE seq = ?').all(seq) as { record: string }[];
    db.prepare('UPDATE audit SET record = ? WHERE seq = ?').run(row.record.replace('"at":', '"at":1'), seq);
    try {
      const failed = await promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', dir]).then(
        () => null,
        (err: { code: number; stdout: string }) => err,
      );
      expect(failed?.code).toBe(1);
      expect(failed?.stdout).toMatch(new RegExp(`FAILED: audit record ${seq} `));
    } finally {
      db.prepare('UPDATE audit SET record = ? WHERE seq = ?').run(row.record, seq);
    }
  });

  describe('the tail of the log, anchored outside the store', () => {
    const anchorsFile = () => path.join(path.dirname(file), AUDIT_ANCHORS_FILE);
    const cli = (dir: string) =>
      promisify(execFile)(process.execPath, [COORDINATOR_CLI, 'audit', 'verify', '--data-dir', dir]).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
      );

    it('holds every head the coordinator committed, the newest the head of the store; the external sink got it too', async () => {
      const { anchors, malformed } = parseAnchors(fs.readFileSync(anchorsFile(), 'utf8'));
      expect(malformed).toEqual([]);
      const head = (await store.auditHead())!;
      expect(anchors.at(-1)).toMatchObject({ seq: head.seq, hash: head.hash });
      // Each anchored commit, in order: at least one a round.
      expect(anchors.length).toBeGreaterThan(ROUNDS);
      expect(anchors.map((a) => a.seq)).toEqual([...anchors.map((a) => a.seq)].sort((a, b) => a - b));
      await eventually(() => sunk.some((a) => a.seq === head.seq && a.hash === head.hash), Boolean);
    });

    it('makes `audit verify` fail when the newest records are deleted, which the chain alone cannot tell', async () => {
      const dir = path.dirname(file);
      expect((await cli(dir)).code).toBe(0);
      const newest = db.prepare('SELECT seq, record FROM audit ORDER BY seq DESC LIMIT 2').all() as { seq: number; record: string }[];
      const kinds = newest.map((r) => AuditRecordSchema.parse(JSON.parse(r.record)).kind);
      db.prepare('DELETE FROM audit WHERE seq >= ?').run(newest[1].seq);
      const moved = `${anchorsFile()}.moved`;
      try {
        const failed = await cli(dir);
        expect(failed.code).toBe(1);
        expect(failed.stdout).toContain(`the log ends at record ${newest[1].seq - 1}, but record ${newest[0].seq} was anchored`);
        expect(failed.stdout).toContain('records were removed from its end');
        // Without the anchors the shortened log passes: the chain is whole, and no table reflects the invitations it lost.
        fs.renameSync(anchorsFile(), moved);
        const blind = await cli(dir);
        expect({ kinds, code: blind.code }).toEqual({ kinds: ['invitation.created', 'invitation.created'], code: 0 });
        expect(blind.stdout).toContain('none; the end of the log is not checked');
      } finally {
        if (fs.existsSync(moved)) fs.renameSync(moved, anchorsFile());
        const put = db.prepare('INSERT INTO audit (seq, record) VALUES (?, ?)');
        for (const r of newest) put.run(r.seq, r.record);
      }
      expect((await cli(dir)).code).toBe(0);
    });

    it('fails on an anchor the coordinator key did not sign: a forged head is not taken on trust', async () => {
      const { anchors } = parseAnchors(fs.readFileSync(anchorsFile(), 'utf8'));
      const forged = { ...anchors[1], hash: 'f'.repeat(64) };
      const original = fs.readFileSync(anchorsFile(), 'utf8');
      fs.appendFileSync(anchorsFile(), JSON.stringify(forged) + '\n');
      try {
        expect((await verifyStore(store, file, { anchorsFile: anchorsFile() })).failure?.reason).toMatch(`the anchor of record ${forged.seq} `);
      } finally {
        fs.writeFileSync(anchorsFile(), original);
      }
    });
  });
});

