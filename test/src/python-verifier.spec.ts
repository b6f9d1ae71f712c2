/**
 * The independent verifier (tools/verify_bundle.py: Python's standard library
 * and Debian's Ed25519, none of this project's code) on a bundle exported from
 * a real run: it accepts it, recomputing every FedAvg, median and trimmed-mean
 * round bit for bit, a central-DP round with its noise, and a secure round with a dropout and a share that did not open, and rejects a changed update byte, a changed record, and
 * an aggregate the coordinator lied about and re-signed with its own key, with or without central noise,
 * and a central-DP job's noise settings re-signed. On
 * malformed input it decides as the TypeScript verifier does, and it refuses
 * what that one refuses in re-signed logs: a job spec naming a strategy or
 * local training settings it does not know, a round whose central noise is not
 * its job's or whose kept seed is gone, a round naming a strategy but no state
 * digest, a round dropping from its state a participant who is not revoked. It also checks the test vectors of docs/protocol.md, and a bundle
 * written by version 1.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { BundleSource, encodeWeights, readKeyFile, sha256Hex, verifyAudit, type AuditData, type AuditRecord } from '@fl/shared';
import { AdminApi, DATA_DIR, dealingBadShares, declaredFeatures, featuresOf, REPO_ROOT, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { COORDINATOR_CLI, PY_VERIFIER, PYTHON } from './processes';
import { editManifest, resignCommit, rewriteLog, type Attested } from './rewrite-log';

jest.setTimeout(300_000);

const exec = promisify(execFile);
const VECTORS = path.join(REPO_ROOT, 'shared', 'test-vectors');

/** Runs the verifier; resolves with its exit status and output, whatever the status. */
async function pyVerify(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout } = await exec(PYTHON, [PY_VERIFIER, ...args]);
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

const copyOf = (dir: string) => {
  const copy = path.join(tempDir('py-tamper'), 'bundle');
  fs.cpSync(dir, copy, { recursive: true });
  return copy;
};

const OTHER_KEY = 'A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=';

/** Both verifiers' verdicts on a bundle: the Python one's exit status and output, the TypeScript one's failure. */
async function bothVerdicts(dir: string, coordinatorKey: string) {
  const python = await pyVerify(dir, '--key', coordinatorKey);
  const typescript = (await verifyAudit(new BundleSource(dir), { coordinatorKey })).failure;
  return { ...python, typescript };
}

describe('the independent Python verifier', () => {
  let bundle: string;
  let dataDir: string;
  let coordinatorKey: string;
  const jobs: Record<'plain' | 'clipped' | 'median' | 'trimmed' | 'secure', string> = { plain: '', clipped: '', median: '', trimmed: '', secure: '' };
  let central = '';
  let kmeans = '';
  let stateful = '';

  beforeAll(async () => {
    const coordinator = await testCoordinator();
    dataDir = coordinator.config.dataDir;
    coordinatorKey = coordinator.identity.publicKey;
    const dataFile = path.join(DATA_DIR, 'breast_cancer.csv');
    const split = splitCsv(dataFile, 6, { seed: 11, holdout: 0, dir: tempDir('py-data') });
    const agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party)));
    const api = AdminApi.of(coordinator);
    const base = { model: 'logistic' as const, features: featuresOf(dataFile, 'diagnosis'), target: 'diagnosis', rounds: 2, minParticipants: 3, evaluateEvery: 0 };
    jobs.plain = (await api.createJob(base)).id;
    await coordinator.engine.whenFinished(jobs.plain);
    // Equal weights and norm bounding: the other paths of FedAvg's arithmetic.
    jobs.clipped = (await api.createJob({ ...base, strategy: { name: 'fedavg', weighting: 'uniform', clipNorm: 0.05 } })).id;
    await coordinator.engine.whenFinished(jobs.clipped);
    // The robust strategies it recomputes too: per coordinate, sorted.
    jobs.median = (await api.createJob({ ...base, strategy: { name: 'median', clipNorm: 0.05 } })).id;
    await coordinator.engine.whenFinished(jobs.median);
    jobs.trimmed = (await api.createJob({ ...base, strategy: { name: 'trimmed-mean' } })).id;
    await coordinator.engine.whenFinished(jobs.trimmed);
    // A strategy with a server state (FedAdam's moments): not recomputed, its models and states checked by their digests.
    stateful = (await api.createJob({ ...base, strategy: { name: 'fedadam' } })).id;
    await coordinator.engine.whenFinished(stateful);
    // Central DP: the coordinator's noise, drawn again from the kept seed.
    central = (await api.createJob({ ...base, strategy: { name: 'fedavg', weighting: 'uniform' }, dp: { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 } })).id;
    await coordinator.engine.whenFinished(central);
    // k-means, which its model chooses (its spec names FedAvg, the default): not recomputed, its models and states checked by their digests.
    const { target: _, ...unsupervised } = base;
    kmeans = (await api.createJob({ ...unsupervised, model: 'kmeans', k: 2 })).id;
    await coordinator.engine.whenFinished(kmeans);
    // A secure round on a ring of 4 neighbours out of 6, site-5 gone once it has shared its keys: its masks are rebuilt and removed.
    // The statistics phase (secure round 0, over declared bounds and classes) has every site.
    // site-2 seals garbage for site-3 in round 1: site-3 skips it and still masks with site-2, so the masks cancel as usual.
    dealingBadShares(agents[2], 'site-3', [1]);
    const dropping = agents[5];
    dropping.on('secagg', ({ round, step, ack }: { round: number; step: string; ack: { ok: boolean } }) => {
      if (round === 1 && step === 'share' && ack.ok) dropping.stop();
    });
    jobs.secure = (await api.createJob({ ...base, ...declaredFeatures(dataFile, 'diagnosis'), rounds: 1, minParticipants: 4, secureAggregation: { neighbours: 4, threshold: 3 } })).id;
    await coordinator.engine.whenFinished(jobs.secure);
    agents.forEach((a) => a.stop());
    await coordinator.close();
    bundle = path.join(tempDir('py-bundle'), 'bundle');
    await exec(process.execPath, [COORDINATOR_CLI, 'audit', 'export', '--data-dir', dataDir, '--out', bundle]);
  });

  it('accepts the bundle of a real run, every round recomputed bit for bit', async () => {
    const { code, out } = await pyVerify(bundle, '--key', coordinatorKey);
    expect(out).toMatch(/^OK$/m);
    expect(code).toBe(0);
    expect(out).toMatch(/hashes and coordinator signatures verified/);
    expect(out).toMatch(/updates: (\d+) accepted, participant signatures verified; \1 retained, \1 in this bundle/);
    for (const [name, job] of Object.entries(jobs)) {
      const strategy = { plain: 'fedavg', clipped: 'fedavg', median: 'median', trimmed: 'trimmed-mean', secure: 'fedavg' }[name];
      const rounds = name === 'secure' ? '1 round committed, 1 recomputed' : '2 rounds committed, 2 recomputed';
      expect(out).toContain(`job ${job}: ${rounds} bit for bit (${strategy}: float64 in the recorded order, float32 once; models match)`);
    }
    expect(out).toContain(`job ${jobs.secure}: 1 round committed, 1 recomputed bit for bit (fedavg: float64 in the recorded order, float32 once; models match); secure statistics phase: masked inputs match their hashes, sums not recomputed`);
    expect(out).toContain(`job ${central}: 2 rounds committed, 2 recomputed bit for bit (fedavg with central noise: float64 in the recorded order, float32 once; models match)`);
    // The secure round lost site-5 after it shared its keys: its mask key, not its seed, was rebuilt.
    const unmasked = fs
      .readFileSync(path.join(bundle, 'records.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"kind":"secagg.unmasked"'))
      .map((l) => JSON.parse(l).data)
      .filter((u) => u.round === 1);
    expect(unmasked.map((u) => [Object.keys(u.maskKeys), Object.keys(u.seeds).sort()])).toEqual([[['site-5'], ['site-0', 'site-1', 'site-2', 'site-3', 'site-4']]]);
  });

  it('rejects a changed byte of a retained update, naming its file', async () => {
    const copy = copyOf(bundle);
    const dir = path.join(copy, 'updates', jobs.plain, '1');
    const [file] = fs.readdirSync(dir).sort();
    const bytes = fs.readFileSync(path.join(dir, file));
    bytes[5] ^= 0x01;
    fs.writeFileSync(path.join(dir, file), bytes);
    const { code, out } = await pyVerify(copy, '--key', coordinatorKey);
    expect(code).toBe(1);
    expect(out).toMatch(new RegExp(`FAILED: update of site-\\d, round 1 of job ${jobs.plain} \\(.*${file}\\): its bytes do not hash to [0-9a-f]{64}, the SHA-256 in audit record \\d+`));
  });

  it('rejects a changed record, naming its line', async () => {
    const copy = copyOf(bundle);
    const file = path.join(copy, 'records.jsonl');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.includes('"kind":"update.accepted"'));
    lines[at] = lines[at].replace(/"numSamples":(\d+)/, (_, n: string) => `"numSamples":${Number(n) + 1}`);
    fs.writeFileSync(file, lines.join('\n'));
    const { code, out } = await pyVerify(copy, '--key', coordinatorKey);
    expect(code).toBe(1);
    expect(out).toContain(`FAILED: audit record ${at + 1} (records.jsonl line ${at + 1}): its hash does not match its content`);
  });

  /**
   * A copy of the bundle whose model of round 1 of `job` its coordinator nudged by a thousandth in its first
   * weight, re-signing that round's commit, the next one's and the whole chain with its own key: the copy,
   * the number of the record that commits round 1 and the changed model's SHA-256.
   */
  const nudgedModel = (job: string) => {
    const copy = copyOf(bundle);
    const { secretKey } = readKeyFile(path.join(dataDir, 'coordinator-key.json'));
    const committed = (r: AuditRecord, round: number) => r.kind === 'model.committed' && r.data.job === job && r.data.round === round;
    const modelFile = path.join(copy, 'models', job, '1.f32');
    const weights = new Float32Array(new Uint8Array(fs.readFileSync(modelFile)).buffer);
    weights[0] = weights[0] + Math.max(Math.abs(weights[0]), 1e-6) * 1e-3;
    const bytes = encodeWeights(weights);
    fs.writeFileSync(modelFile, bytes);
    const records = rewriteLog(copy, secretKey, (record) => {
      if (committed(record, 1)) return resignCommit(record.data as AuditData<'model.committed'>, secretKey, (a) => ({ ...a, sha256: sha256Hex(bytes) }));
      if (committed(record, 2)) return resignCommit(record.data as AuditData<'model.committed'>, secretKey, (a) => ({ ...a, previous: sha256Hex(bytes) }));
      return record.data;
    });
    return { copy, seq: records.findIndex((r) => committed(r, 1)) + 1, sha256: sha256Hex(bytes) };
  };

  it('rejects an aggregate the coordinator changed and re-signed, chain and all, with its own key', async () => {
    const { copy, seq, sha256 } = nudgedModel(jobs.plain);
    const { code, out } = await pyVerify(copy, '--key', coordinatorKey);
    expect(code).toBe(1);
    expect(out).toMatch(
      new RegExp(`FAILED: audit record ${seq} \\(records.jsonl line ${seq}\\): the committed model is not the fedavg of its contributors' updates: recomputed SHA-256 [0-9a-f]{64}, recorded ${sha256}`),
    );
  });

  it("rejects a central-DP round's model the coordinator changed and re-signed, naming the round's record, as the TypeScript verifier does", async () => {
    const { copy, seq, sha256 } = nudgedModel(central);
    const { code, out, typescript } = await bothVerdicts(copy, coordinatorKey);
    expect(typescript?.reason).toMatch(new RegExp(`^the committed model is not the .* of its contributors' updates: recomputed SHA-256 [0-9a-f]{64}, recorded ${sha256}$`));
    expect(typescript?.where).toContain(`audit record ${seq}`);
    expect(out).toMatch(
      new RegExp(`FAILED: audit record ${seq} \\(records.jsonl line ${seq}\\): the committed model is not the fedavg of its contributors' updates: recomputed SHA-256 [0-9a-f]{64}, recorded ${sha256}`),
    );
    expect(code).toBe(1);
  });

  it('accepts a k-means job, the strategy its model chooses, and refuses one whose spec was changed to another k', async () => {
    const { code, out } = await pyVerify(bundle, '--key', coordinatorKey);
    expect(out).toContain(`job ${kmeans}: 2 rounds committed, 0 recomputed bit for bit; 2 not recomputed: strategy kmeans (this verifier recomputes fedavg, fedprox, median, trimmed-mean)`);
    expect(code).toBe(0);
    // The job's spec re-signed with k = 3: its rounds, aggregated with k = 2, no longer are what it names.
    const copy = copyOf(bundle);
    const { secretKey } = readKeyFile(path.join(dataDir, 'coordinator-key.json'));
    const records = rewriteLog(copy, secretKey, (r) =>
      r.kind === 'job.created' && r.data.job === kmeans ? { ...r.data, spec: { ...(r.data as AuditData<'job.created'>).spec, k: 3 } } : r.data,
    );
    const first = records.findIndex((r) => r.kind === 'model.committed' && r.data.job === kmeans);
    const tampered = await pyVerify(copy, '--key', coordinatorKey);
    expect(tampered.out).toContain(
      `FAILED: audit record ${first + 1} (records.jsonl line ${first + 1}): aggregated with {"k":2,"name":"kmeans"}, not the {"k":3,"name":"kmeans"} its job's spec names`,
    );
    expect(tampered.code).toBe(1);
  });

  it.each(['job.control', 'job.resumed'] as const)('refuses a %s record of a job the log never created, as the TypeScript verifier does', async (kind) => {
    const copy = copyOf(bundle);
    const { secretKey } = readKeyFile(path.join(dataDir, 'coordinator-key.json'));
    const data = kind === 'job.control' ? { job: 'no-such-job', action: 'pause' as const } : { job: 'no-such-job', round: 0 };
    const records = rewriteLog(copy, secretKey, (r) => r.data, [{ kind, actor: 'coordinator', data }]);
    const { code, out } = await pyVerify(copy, '--key', coordinatorKey);
    const reason = 'job no-such-job was never created (no job.created before this record)';
    expect(out).toContain(`FAILED: audit record ${records.length} (records.jsonl line ${records.length}): ${reason}`);
    expect(code).toBe(1);
    expect((await verifyAudit(new BundleSource(copy), { coordinatorKey })).failure?.reason).toBe(reason);
  });

  /** The spec of one of the bundle's jobs, as its job.created record holds it. */
  const specOf = (job: string): Record<string, unknown> => {
    const records = fs.readFileSync(path.join(bundle, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    return records.find((r) => r.kind === 'job.created' && r.data.job === job)!.data.spec as Record<string, unknown>;
  };

  const coordinatorSecret = () => readKeyFile(path.join(dataDir, 'coordinator-key.json')).secretKey;

  /** A copy of the bundle whose log its coordinator rewrote with `change` and `added`, and the records it then holds. */
  const rewritten = (change: (record: AuditRecord) => AuditRecord['data'], added: Pick<AuditRecord, 'kind' | 'actor' | 'data'>[] = []) => {
    const copy = copyOf(bundle);
    return { copy, records: rewriteLog(copy, coordinatorSecret(), change, added) };
  };

  /** The model.committed records `matches` re-signed as `change` makes them: both verifiers refuse the bundle at the first, for `reason`. */
  const refusedCommit = async (matches: (record: AuditRecord) => boolean, change: (attested: Attested) => Attested, reason: string) => {
    const secretKey = coordinatorSecret();
    const { copy, records } = rewritten((r) => (matches(r) ? resignCommit(r.data as AuditData<'model.committed'>, secretKey, change) : r.data));
    const at = records.findIndex(matches) + 1;
    const { code, out, typescript } = await bothVerdicts(copy, coordinatorKey);
    expect(typescript?.reason).toBe(reason);
    expect(out).toContain(`FAILED: audit record ${at} (records.jsonl line ${at}): ${reason}`);
    expect(code).toBe(1);
  };

  it.each([
    [{ name: 'fedfancy' }, 'strategy.name is "fedfancy", not one of fedavg, fedavgm, fedprox, fedadam, fedyogi, fedadagrad, scaffold, median, trimmed-mean, krum, kmeans'],
    [{ name: 'trimmed-mean', beta: 0.5 }, 'strategy.beta is 0.5, not a number of at least 0 and below 0.5'],
    [{ name: 'fedavg', mu: 0.1 }, 'strategy.mu is not a parameter of fedavg'],
  ])('refuses a job whose spec names a strategy it does not know (%j), as the TypeScript verifier does', async (strategy, detail) => {
    const spec = { ...specOf(jobs.plain), strategy };
    const { copy, records } = rewritten((r) => r.data, [{ kind: 'job.created', actor: 'user:admin', data: { job: 'odd-strategy', spec } }]);
    const { code, out, typescript } = await bothVerdicts(copy, coordinatorKey);
    const reason = 'job odd-strategy: its spec names no strategy this verifier knows';
    expect(typescript?.reason).toBe(reason);
    expect(out).toContain(`FAILED: audit record ${records.length} (records.jsonl line ${records.length}): ${reason} (${detail})`);
    expect(code).toBe(1);
  });

  it.each([
    [{ localEpochs: 0 }, 'localEpochs is 0, not a whole number of at least 1 and at most 1000'],
    [{ batchSize: 2.5 }, 'batchSize is 2.5, not a whole number of at least 1 and at most 1000000'],
    [{ learningRate: '0.1' }, 'learningRate is "0.1", not a number above 0 and at most 100'],
  ])('refuses a job whose local training settings are not valid (%j), as the TypeScript verifier does', async (settings, detail) => {
    const spec = { ...specOf(jobs.plain), ...settings };
    const { copy, records } = rewritten((r) => r.data, [{ kind: 'job.created', actor: 'user:admin', data: { job: 'odd-training', spec } }]);
    const { code, out, typescript } = await bothVerdicts(copy, coordinatorKey);
    const reason = "job odd-training: its spec's local training settings are not valid";
    expect(typescript?.reason).toBe(reason);
    expect(out).toContain(`FAILED: audit record ${records.length} (records.jsonl line ${records.length}): ${reason}: ${detail}`);
    expect(code).toBe(1);
  });

  // A round that claims central noise is not recomputed here: a job without central DP must not make that claim.
  it('refuses a round that commits central noise in a job without central differential privacy, as the TypeScript verifier does', async () => {
    const seedSha256 = sha256Hex(Buffer.from('no seed was drawn'));
    await refusedCommit(
      (r) => r.kind === 'model.committed' && r.data.job === jobs.plain,
      (a) => ({ ...a, centralNoise: { seedSha256 } }),
      'commits central noise in a job without central differential privacy',
    );
  });

  it('refuses a central differential privacy round that commits to no noise seed, as the TypeScript verifier does', async () => {
    await refusedCommit(
      (r) => r.kind === 'model.committed' && r.data.job === central,
      ({ centralNoise: _, ...a }) => a,
      'a central differential privacy round that commits to no noise seed',
    );
  });

  it('refuses a central differential privacy round whose kept noise seed was changed or deleted, naming its file', async () => {
    const copy = copyOf(bundle);
    const dir = path.join(copy, 'updates', central, '1');
    const [name] = fs.readdirSync(dir).filter((f) => f.startsWith('%3Acentral-noise.'));
    const file = path.join(dir, name);
    const place = `FAILED: central noise seed of round 1 of job ${central} (${file})`;
    const bytes = fs.readFileSync(file);
    bytes[0] ^= 0x01;
    fs.writeFileSync(file, bytes);
    const changed = await bothVerdicts(copy, coordinatorKey);
    expect(changed.typescript?.reason).toMatch(/^its bytes do not hash to [0-9a-f]{64}, the SHA-256 in audit record \d+$/);
    expect(changed.out).toContain(`${place}: ${changed.typescript?.reason}`);
    expect(changed.code).toBe(1);
    fs.rmSync(file);
    const deleted = await bothVerdicts(copy, coordinatorKey);
    expect(deleted.typescript?.reason).toMatch(/^the central noise seed is missing, though the round's updates were retained \(audit record \d+ commits to it\)$/);
    const seq = /audit record (\d+)/.exec(deleted.typescript!.reason)![1];
    expect(deleted.out).toContain(`${place}: missing, though the round's updates were retained (audit record ${seq} commits to it)`);
    expect(deleted.code).toBe(1);
  });

  it('refuses a central-DP job whose noise settings were changed and re-signed, at its first round, as the TypeScript verifier does', async () => {
    const spec = specOf(central);
    const { copy, records } = rewritten((r) =>
      r.kind === 'job.created' && r.data.job === central ? { ...r.data, spec: { ...spec, dp: { ...(spec.dp as object), noiseMultiplier: 2 } } } : r.data,
    );
    const seq = records.findIndex((r) => r.kind === 'model.committed' && r.data.job === central) + 1;
    const { code, out, typescript } = await bothVerdicts(copy, coordinatorKey);
    expect(typescript?.where).toContain(`audit record ${seq}`);
    expect(typescript?.reason).toMatch(/^the committed model is not the .* of its contributors' updates/);
    expect(out).toMatch(
      new RegExp(`FAILED: audit record ${seq} \\(records.jsonl line ${seq}\\): the committed model is not the fedavg of its contributors' updates: recomputed SHA-256 [0-9a-f]{64}, recorded [0-9a-f]{64}`),
    );
    expect(code).toBe(1);
  });

  it("checks a FedAdam job's states by their digests, and refuses a round that names its strategy but no digest of its state, as the TypeScript verifier does", async () => {
    const accepted = await pyVerify(bundle, '--key', coordinatorKey);
    expect(accepted.out).toContain(`job ${stateful}: 2 rounds committed, 0 recomputed bit for bit; 2 not recomputed: strategy fedadam (this verifier recomputes fedavg, fedprox, median, trimmed-mean)`);
    expect(accepted.code).toBe(0);
    await refusedCommit(
      (r) => r.kind === 'model.committed' && r.data.job === stateful && r.data.round === 1,
      ({ stateSha256: _, ...a }) => a,
      'names a strategy but no digest of its state',
    );
  });

  it("accepts a round that drops from its strategy's state a participant revoked before it, and refuses one naming a participant who is not, as the TypeScript verifier does", async () => {
    // As a SCAFFOLD round names a site revoked before it: site-0 revoked just before the last commit, which names it (both verifiers check only that).
    const secretKey = coordinatorSecret();
    const last = (r: AuditRecord) => r.kind === 'model.committed' && r.data.job === jobs.secure;
    const copy = copyOf(bundle);
    const revocation = { kind: 'participant.revoked' as const, actor: 'user:admin', data: { name: 'site-0', reason: 'dishonest' } };
    rewriteLog(copy, secretKey, (r) => (last(r) ? resignCommit(r.data as AuditData<'model.committed'>, secretKey, (a) => ({ ...a, revoked: ['site-0'] })) : r.data), [revocation], last);
    const accepted = await bothVerdicts(copy, coordinatorKey);
    expect(accepted.typescript).toBeUndefined();
    expect(accepted.code).toBe(0);
    await refusedCommit(
      (r) => r.kind === 'model.committed' && r.data.job === stateful && r.data.round === 2,
      (a) => ({ ...a, revoked: ['site-0'] }),
      "drops from its strategy's state what it kept of site-0, who is approved here, not revoked",
    );
  });

  it('reads a manifest with a field it does not know, and names it, as the TypeScript verifier does', async () => {
    const copy = copyOf(bundle);
    editManifest(copy, (m) => Object.assign(m, { exportedBy: 'a newer coordinator' }));
    const { code, out } = await pyVerify(copy, '--key', coordinatorKey);
    expect(out).toContain('manifest fields this verifier does not know (ignored): exportedBy');
    expect(out).toMatch(/^OK$/m);
    expect(code).toBe(0);
    const source = new BundleSource(copy);
    expect(source.unknownFields).toEqual(['exportedBy']);
    expect((await verifyAudit(source, { coordinatorKey })).ok).toBe(true);
  });

  it('refuses a manifest whose coordinator key is not the one given with --key', async () => {
    const copy = copyOf(bundle);
    editManifest(copy, (m) => Object.assign(m, { coordinatorKey: OTHER_KEY }));
    const { code, out } = await pyVerify(copy, '--key', coordinatorKey);
    expect(out).toMatch(/^FAILED: manifest.json: its coordinator key [0-9a-f:]{39} is not the one given with --key \([0-9a-f:]{39}\)$/m);
    expect(code).toBe(1);
  });

  it('refuses a manifest field of the wrong type, naming it', async () => {
    const copy = copyOf(bundle);
    editManifest(copy, (m) => Object.assign(m, { records: String(m.records) }));
    const { records } = JSON.parse(fs.readFileSync(path.join(copy, 'manifest.json'), 'utf8')) as { records: string };
    const { code, out } = await pyVerify(copy, '--key', coordinatorKey);
    expect(out).toContain(`FAILED: ${path.join(copy, 'manifest.json')}: not an fl-audit-bundle manifest: "records" is "${records}", not a whole number of 0 or more`);
    expect(code).toBe(1);
    expect(() => new BundleSource(copy)).toThrow(`${path.join(copy, 'manifest.json')} is not an audit bundle manifest: records must be a whole number of 0 or more, not "${records}"`);
  });

  it('refuses a coordinator key other than the trusted one', async () => {
    const { code, out } = await pyVerify(bundle, '--key', OTHER_KEY);
    expect(code).toBe(1);
    expect(out).toMatch(/FAILED: manifest.json: its coordinator key .* is not the one given with --key/);
    // A manifest changed to name the trusted key: record 1 still announces the other.
    const copy = copyOf(bundle);
    editManifest(copy, (m) => Object.assign(m, { coordinatorKey: OTHER_KEY }));
    const record1 = await pyVerify(copy, '--key', OTHER_KEY);
    expect(record1.code).toBe(1);
    expect(record1.out).toMatch(/FAILED: audit record 1 .*announces coordinator key .*, not the trusted key A6EHv/);
  });

  it('accepts the version-1 bundle of the test vectors, its secure round recomputed too', async () => {
    const { code, out } = await pyVerify(path.join(VECTORS, 'audit-bundle-v1'));
    expect(code).toBe(0);
    expect(out).toMatch(/2 rounds committed, 2 recomputed bit for bit/);
    expect(out).toMatch(/1 round committed, 1 recomputed bit for bit/);
  });

  it('recomputes the test vectors on its own: RFC 8785, signatures from seeds, digests, central noise', async () => {
    const { code, out } = await pyVerify('--vectors', VECTORS);
    expect(out).toMatch(/jcs.json: 6 RFC 8785 examples and 24 numbers match/);
    // Every signed header of the file, counted by the verifier itself.
    const { messages } = JSON.parse(fs.readFileSync(path.join(VECTORS, 'signatures.json'), 'utf8')) as { messages: unknown[] };
    expect(out).toContain(`signatures.json: ${messages.length} signed headers, canonical bytes and signatures match`);
    expect(out).toContain('central-noise.json: 16 Gaussians drawn from the seed and a central-DP update match');
    expect(code).toBe(0);
  });
});
