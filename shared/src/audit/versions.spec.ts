/**
 * Audit logs across protocol versions: a bundle exported by the version-1 code
 * (test-vectors/audit-bundle-v1, FedAvg and secure rounds) still verifies, its
 * records and their signatures read in version 1; a log that goes on in
 * version 2 verifies as one chain; and neither version can pass for the other.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  anchorOf,
  anchorProblem,
  AUDIT_GENESIS,
  AuditRecordSchema,
  auditText,
  BundleSource,
  canonicalBytes,
  canonicalJson,
  defaultEngine,
  encodeKey,
  fingerprint,
  generateKeyPair,
  sealAuditRecord,
  verifyAudit,
  writeBundle,
  type AuditRecord,
  type AuditSource,
  type KeyPair,
} from '..';
import { canonicalJsonV1 } from '../crypto/canonical-v1';

const V1_BUNDLE = path.join(__dirname, '..', '..', 'test-vectors', 'audit-bundle-v1');

/** A record sealed as the version-1 code sealed it: its hash over FL1 canonical JSON without a version, signed with the FL1 prefix. */
function sealV1(record: Omit<AuditRecord, 'hash' | 'signature' | 'version'>, key: KeyPair): AuditRecord {
  const hash = createHash('sha256').update(canonicalJsonV1(record), 'utf8').digest('hex');
  const signature = Buffer.from(defaultEngine.sign(canonicalBytes('audit', { seq: record.seq, hash }, 1), key.secretKey)).toString('base64');
  return { ...record, hash, signature };
}

/** An in-memory log of records given as stored text. */
const textSource = (texts: string[]): AuditSource => ({
  records: () => texts.map((text, i) => ({ seq: i + 1, text })),
  update: () => undefined,
  model: () => undefined,
  describe: (item) => ('record' in item ? `audit record ${item.record}` : 'item'),
});

/** A copy of the version-1 bundle to change. */
function copyOfV1(): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-v1-')), 'bundle');
  fs.cpSync(V1_BUNDLE, dir, { recursive: true });
  return dir;
}

describe('an audit bundle written by the version-1 code', () => {
  const source = new BundleSource(V1_BUNDLE);
  const texts = [...source.records()].map((r) => r.text);

  it('verifies: chain, signatures and every round recomputed, FedAvg and secure', async () => {
    const report = await verifyAudit(source, { coordinatorKey: source.manifest.coordinatorKey });
    expect(report.failure).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.counts).toMatchObject({ records: 21, jobs: 2, updates: 9, roundsRecomputed: 3, roundsNotRecomputable: 0 });
    expect(source.manifest.version).toBe(1);
  });

  it('holds records without a version, stored in the version-1 canonical form, which is also their RFC 8785 form', async () => {
    for (const text of texts) {
      const record = AuditRecordSchema.parse(JSON.parse(text));
      expect(record.version).toBeUndefined();
      expect(auditText(record)).toBe(text);
      expect(canonicalJsonV1(record)).toBe(text);
      // What lets a verifier in another language read version 1 with its JCS: the same text.
      expect(canonicalJson(record)).toBe(text);
    }
  });

  it('is copied whole by a bundle writer, masked inputs of its secure round included', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-v1-')), 'copy');
    await writeBundle(source, dir);
    expect(fs.readFileSync(path.join(dir, 'records.jsonl'), 'utf8')).toBe(texts.join('\n') + '\n');
    expect((await verifyAudit(new BundleSource(dir))).counts).toEqual((await verifyAudit(source)).counts);
  });

  it('fails when a record claims version 2 it was not written in', async () => {
    const dir = copyOfV1();
    const file = path.join(dir, 'records.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    lines[4] = lines[4].replace(/}$/, ',"version":2}');
    fs.writeFileSync(file, lines.join('\n'));
    expect((await verifyAudit(new BundleSource(dir))).failure).toEqual({
      where: `audit record 5 (${file} line 5)`,
      reason: 'its hash does not match its content',
    });
  });

  it('fails on an update byte changed in the copy, naming the file', async () => {
    const dir = copyOfV1();
    const [round] = fs.readdirSync(path.join(dir, 'updates')).flatMap((job) => [path.join(dir, 'updates', job, '1')]);
    const [first] = fs.readdirSync(round).filter((f) => f.endsWith('.f32'));
    const bytes = fs.readFileSync(path.join(round, first));
    bytes[3] ^= 0x01;
    fs.writeFileSync(path.join(round, first), bytes);
    expect((await verifyAudit(new BundleSource(dir))).failure?.reason).toMatch(/its bytes do not hash to [0-9a-f]{64}, the SHA-256 in audit record \d+/);
  });
});

describe('a log that goes on in version 2', () => {
  const coordinator = generateKeyPair();
  const at = 1_800_000_000_000;
  const first = sealV1(
    { seq: 1, at, kind: 'coordinator.key', actor: 'coordinator', data: { publicKey: encodeKey(coordinator.publicKey), fingerprint: fingerprint(coordinator.publicKey) }, prev: AUDIT_GENESIS },
    coordinator,
  );
  const second = sealV1({ seq: 2, at: at + 1, kind: 'user.added', actor: 'coordinator', data: { name: 'ana', role: 'admin' }, prev: first.hash }, coordinator);
  const third = sealAuditRecord({ seq: 3, at: at + 2, kind: 'user.added', actor: 'user:ana', data: { name: 'ben', role: 'viewer' }, prev: second.hash }, coordinator.secretKey);
  const texts = [first, second, third].map(auditText);

  it('verifies as one chain, each record in its own version', async () => {
    expect(third.version).toBe(2);
    expect(texts[2]).toContain('"version":2');
    const report = await verifyAudit(textSource(texts), { coordinatorKey: encodeKey(coordinator.publicKey) });
    expect(report.failure).toBeUndefined();
    expect(report.counts.records).toBe(3);
  });

  it('fails when a version-2 record is stripped of its version', async () => {
    const stripped = { ...third, version: undefined };
    const report = await verifyAudit(textSource([texts[0], texts[1], auditText(stripped as AuditRecord)]));
    expect(report.failure).toEqual({ where: 'audit record 3', reason: 'its hash does not match its content' });
  });

  it('names a format version it does not know', async () => {
    const future = texts[2].replace('"version":2', '"version":3');
    expect((await verifyAudit(textSource([texts[0], texts[1], future]))).failure).toEqual({
      where: 'audit record 3',
      reason: 'written in format version 3, which this verifier does not know (it knows 1, 2)',
    });
  });

  it('checks the anchors of both versions against their own signatures', async () => {
    const anchors = [anchorOf(second, at), anchorOf(third, at)];
    expect(anchors.map((a) => a.version)).toEqual([undefined, 2]);
    const hashes = new Map([second, third].map((r) => [r.seq, r.hash]));
    expect(anchorProblem(anchors, (seq) => hashes.get(seq), 3, encodeKey(coordinator.publicKey))).toBeUndefined();
    // A version-1 anchor relabelled as version 2 no longer verifies.
    const relabelled = { ...anchors[0], version: 2 as const };
    expect(anchorProblem([relabelled], (seq) => hashes.get(seq), 3, encodeKey(coordinator.publicKey))).toMatch(/not signed by the coordinator key/);
  });
});
