/**
 * The test vectors of docs/protocol.md (shared/test-vectors), checked against
 * the code: the RFC 8785 examples; every signed header of the protocol with
 * its canonical JSON, signed bytes and signature under keys from fixed seeds;
 * the digests of weights, states, setups and audit records; and a small audit
 * bundle from a real run; a seed's central noise and one central-DP update. A
 * change to canonical JSON, signing, hashing or the noise fails here.
 * signatures.json, digests.json and central-noise.json are written by this
 * file when WRITE_TEST_VECTORS=1; jcs.json is copied from the RFC, never written.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { z } from 'zod';
import {
  AdvertisementSchema,
  auditHash,
  BundleSource,
  canonicalBytes,
  canonicalJson,
  canonicalJsonOf,
  centralUpdate,
  encodeKey,
  encodeState,
  encodeWeights,
  EnrolledHeaderSchema,
  EnrollmentHeaderSchema,
  EvaluateHeaderSchema,
  EvaluationHeaderSchema,
  FailureHeaderSchema,
  HandshakeHeaderSchema,
  JobSpecSchema,
  keyPairFromSeed,
  modelAttestation,
  prg,
  PROTOCOL_VERSION,
  sealAuditRecord,
  SecAggReplyHeaderSchema,
  SecAggRequestHeaderSchema,
  seededGaussians,
  setupDigest,
  SetupHeaderSchema,
  sha256Hex,
  signHeader,
  SIGNATURE_DOMAINS,
  StatisticsHeaderSchema,
  StatisticsRequestHeaderSchema,
  TrainHeaderSchema,
  UpdateHeaderSchema,
  verifyAudit,
  verifyHeader,
  defaultEngine,
  WelcomeHeaderSchema,
  AUDIT_DATA,
  type ProtocolVersion,
  type SetupHeader,
  type SignatureDomain,
} from '..';

const DIR = path.join(__dirname, '..', '..', 'test-vectors');
const read = (file: string) => JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
const WRITE = process.env.WRITE_TEST_VECTORS === '1';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const seedOf = (first: number) => Uint8Array.from({ length: 32 }, (_, i) => first + i);
const KEYS = { coordinator: keyPairFromSeed(seedOf(0x00)), 'site-a': keyPairFromSeed(seedOf(0x20)) };
type Signer = keyof typeof KEYS;
const C = encodeKey(KEYS.coordinator.publicKey);
const A = encodeKey(KEYS['site-a'].publicKey);

const T = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const NONCE = 'bm9uY2UtMDAwMDAwMDAwMDAx';
const JOB = 'credit-2026';
const spec = JobSpecSchema.parse({
  name: 'credit risk',
  model: 'logistic',
  features: [
    { name: 'income', type: 'numeric' },
    { name: 'country', type: 'categorical' },
  ],
  target: 'default',
  rounds: 2,
});
const setup: SetupHeader = {
  type: 'setup',
  job: JOB,
  spec,
  preprocessing: {
    features: [
      { name: 'income', type: 'numeric', mean: 50000.166666666664, std: 12345.678 },
      { name: 'country', type: 'categorical', vocabulary: ['DE', 'FR'] },
    ],
    target: { type: 'binary', classes: ['no', 'yes'] },
    inputDim: 4,
    rows: 3,
  },
  model: { kind: 'logistic', inputDim: 4, outputDim: 1 },
};
/** a global model and an update: 4 inputs and a bias */
const GLOBAL = Float32Array.from([0, 0, 0, 0, 0]);
const UPDATE = Float32Array.from([0.5, -0.25, 0.125, 1e-7, -3.4028234663852886e38]);
const STATE = { momentum: Float64Array.from([0.1, -2.5]) };
const MASKED = Uint32Array.from([0, 1, 0xffffffff, 0x80000000]);
const AUDIT_HEAD = { seq: 7, hash: sha256Hex(Buffer.from('record 7')) };

/** Every signed header of the protocol, its domain, its signer and the schema it must pass. */
function messages(): { domain: SignatureDomain; signer: Signer; version?: ProtocolVersion; schema?: z.ZodType; header: Record<string, unknown> }[] {
  const weightsSha256 = sha256Hex(encodeWeights(UPDATE));
  const globalSha256 = sha256Hex(encodeWeights(GLOBAL));
  const request = { job: JOB, round: 1, setup: setupDigest(setup), weightsSha256: globalSha256, deadline: T + 60_000, issuedAt: T, auditHead: AUDIT_HEAD };
  const advert = { job: JOB, round: 1, participant: 'site-a', cPublicKey: encodeKey(seedOf(0x40)), sPublicKey: encodeKey(seedOf(0x60)), seedCommitment: createHash('sha256').update(seedOf(0x80)).digest('base64') };
  const update = { type: 'update', job: JOB, round: 1, participant: 'site-a', nonce: NONCE, numSamples: 3, metrics: { trainLoss: 0.6931471805599453, trainAccuracy: 2 / 3 }, weightsSha256 };
  return [
    { domain: 'handshake', signer: 'site-a', schema: HandshakeHeaderSchema, header: { type: 'handshake', protocol: PROTOCOL_VERSION, publicKey: A, timestamp: T, nonce: NONCE } },
    {
      domain: 'welcome',
      signer: 'coordinator',
      schema: WelcomeHeaderSchema,
      header: { type: 'welcome', protocol: PROTOCOL_VERSION, participant: 'site-a', coordinatorKey: C, handshakeNonce: NONCE, serverTime: T + 5, maxFrameBytes: 1_048_576, maxMessageBytes: 67_108_864 },
    },
    {
      domain: 'enrollment',
      signer: 'site-a',
      schema: EnrollmentHeaderSchema,
      header: { type: 'enrollment', token: 'invitation-token-0123456789abcdef', name: 'site-a', publicKey: A, timestamp: T, nonce: NONCE },
    },
    {
      domain: 'enrolled',
      signer: 'coordinator',
      schema: EnrolledHeaderSchema,
      header: { type: 'enrolled', participant: 'site-a', organisation: 'Bank A', country: 'DE', publicKey: A, status: 'pending', coordinatorKey: C, nonce: NONCE, issuedAt: T + 5 },
    },
    { domain: 'statistics-request', signer: 'coordinator', schema: StatisticsRequestHeaderSchema, header: { type: 'statistics-request', job: JOB, spec, issuedAt: T } },
    {
      domain: 'statistics',
      signer: 'site-a',
      schema: StatisticsHeaderSchema,
      header: {
        type: 'statistics',
        job: JOB,
        participant: 'site-a',
        nonce: NONCE,
        statistics: {
          rows: 3,
          features: [
            { name: 'income', type: 'numeric', count: 3, sum: 150000.5, sumSquares: 7500050000.25, missing: 0 },
            { name: 'country', type: 'categorical', counts: [['DE', 2], ['FR', 1]], missing: 0 },
          ],
          target: { type: 'categorical', counts: [['no', 2], ['yes', 1]] },
        },
      },
    },
    { domain: 'setup', signer: 'coordinator', schema: SetupHeaderSchema, header: setup },
    { domain: 'train', signer: 'coordinator', schema: TrainHeaderSchema, header: { type: 'train', ...request, evaluate: false } },
    { domain: 'update', signer: 'site-a', schema: UpdateHeaderSchema, header: update },
    { domain: 'evaluate', signer: 'coordinator', schema: EvaluateHeaderSchema, header: { type: 'evaluate', ...request } },
    {
      domain: 'evaluation',
      signer: 'site-a',
      schema: EvaluationHeaderSchema,
      header: { type: 'evaluation', job: JOB, round: 1, participant: 'site-a', nonce: NONCE, numExamples: 1, metrics: { accuracy: 1 }, modelSha256: globalSha256 },
    },
    {
      domain: 'failure',
      signer: 'site-a',
      schema: FailureHeaderSchema,
      header: { type: 'failure', job: JOB, round: 0, phase: 'statistics', participant: 'site-a', nonce: NONCE, code: 'DATA_MISSING_COLUMNS', counts: { columns: 1 } },
    },
    {
      domain: 'failure',
      signer: 'site-a',
      schema: FailureHeaderSchema,
      header: {
        type: 'failure',
        job: JOB,
        round: 1,
        phase: 'secagg',
        step: 'share',
        participant: 'site-a',
        nonce: NONCE,
        code: 'SECAGG_TOO_FEW_NEIGHBOURS',
        counts: {},
        message: '2 neighbours advertised keys, fewer than the threshold 3',
      },
    },
    { domain: 'audit', signer: 'coordinator', header: { seq: AUDIT_HEAD.seq, hash: AUDIT_HEAD.hash } },
    {
      domain: 'model',
      signer: 'coordinator',
      header: modelAttestation({
        job: JOB,
        round: 1,
        sha256: weightsSha256,
        previous: globalSha256,
        contributors: [{ participant: 'site-a', numSamples: 3, sha256: weightsSha256 }],
        strategy: { name: 'fedavg', weighting: 'samples' },
        stateSha256: sha256Hex(encodeState({})),
      }),
    },
    { domain: 'secagg-keys', signer: 'site-a', header: advert },
    {
      domain: 'secagg-request',
      signer: 'coordinator',
      schema: SecAggRequestHeaderSchema,
      header: { type: 'secagg-request', job: JOB, round: 1, step: 'advertise', participants: ['site-a', 'site-b', 'site-c'], deadline: T + 60_000, issuedAt: T },
    },
    {
      domain: 'secagg',
      signer: 'site-a',
      schema: SecAggReplyHeaderSchema,
      header: { type: 'secagg', job: JOB, round: 1, participant: 'site-a', nonce: NONCE, step: 'masked', maskedSha256: sha256Hex(Buffer.from(MASKED.buffer)) },
    },
    // Version 1, as logs written before version 2 hold it: the FL1 prefix.
    { domain: 'update', signer: 'site-a', version: 1, schema: UpdateHeaderSchema, header: update },
  ];
}

function signatureVectors() {
  return {
    description:
      'Ed25519 signatures of every signed header (docs/protocol.md): signedBytes = "FL" version 0x00 domain 0x00 canonical, UTF-8; canonical is RFC 8785 JSON from version 2 on. Keys come from fixed 32-byte seeds (RFC 8032 private keys); signatures are base64, keys base64.',
    keys: Object.entries(KEYS).map(([name, pair]) => ({ name, seed: hex(pair.secretKey.subarray(0, 32)), publicKey: encodeKey(pair.publicKey) })),
    messages: messages().map(({ domain, signer, version = PROTOCOL_VERSION, header }) => {
      const signed = canonicalBytes(domain, header, version);
      return {
        domain,
        version,
        signer,
        header,
        canonical: canonicalJsonOf(version, header),
        signedBytes: hex(signed),
        signature: Buffer.from(defaultEngine.sign(signed, KEYS[signer].secretKey)).toString('base64'),
      };
    }),
  };
}

function digestVectors() {
  const weights = encodeWeights(UPDATE);
  const state = encodeState(STATE);
  const emptyState = encodeState({});
  const masked = Buffer.from(MASKED.buffer);
  const at = T + 1000;
  const v1 = { seq: 1, at, kind: 'user.added' as const, actor: 'coordinator', data: { name: 'ana', role: 'admin' }, prev: '0'.repeat(64) };
  const sealed = sealAuditRecord({ ...v1, seq: 2, prev: auditHash(v1) }, KEYS.coordinator.secretKey);
  const { hash, signature, ...hashed } = sealed;
  return {
    description:
      'SHA-256 digests (lowercase hex) the protocol signs instead of bytes: weights as Float32 little-endian, masked inputs as Uint32 little-endian, strategy states (encodeState), a setup header by its RFC 8785 JSON, and audit records (their hash over the canonical JSON of every field but hash and signature).',
    weights: { values: [...UPDATE], bytes: hex(weights), sha256: sha256Hex(weights) },
    maskedInput: { values: [...MASKED], bytes: hex(masked), sha256: sha256Hex(masked) },
    state: { values: Object.fromEntries(Object.entries(STATE).map(([k, v]) => [k, [...v]])), bytes: hex(state), sha256: sha256Hex(state) },
    emptyState: { bytes: hex(emptyState), sha256: sha256Hex(emptyState) },
    setup: { header: 'the setup header of signatures.json', sha256: setupDigest(setup) },
    auditRecords: [
      { version: 1, hashed: v1, hashedCanonical: canonicalJson(v1), hash: auditHash(v1) },
      { version: 2, hashed, hashedCanonical: canonicalJson(hashed), hash, signature, signedBy: 'coordinator', stored: canonicalJson(sealed) },
    ],
  };
}

/** A double's IEEE 754 bits, big-endian hex, as jcs.json writes them: JSON's text would lose the sign of a zero. */
const ieee = (x: number) => {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleBE(x);
  return bytes.toString('hex');
};

function noiseVectors() {
  const seed = seedOf(0xa0);
  const count = 16;
  // One clipped update and one inside the clip norm, noised from the same seed: its first five Gaussians.
  const global = Float32Array.from([0.5, -0.25, 0.125, 1, -1]);
  const updates = [Float32Array.from([1.5, -1, 0.5, 2, 0]), Float32Array.from([0.5, -0.2, 0.1, 1.1, -1.05])];
  const dp = { noiseMultiplier: 1.1, clipNorm: 1 };
  const { weights, weight } = centralUpdate(global, updates, dp, seed);
  const bytes = encodeWeights(weights);
  return {
    description:
      'Central differential privacy noise (docs/protocol.md#central-noise): the PRG words under "dp-noise" of a 32-byte seed, the standard normal numbers Box–Muller makes of them (u1 = (w[2i] + 1) / 2^32, u2 = w[2i+1] / 2^32, sqrt(-2 log u1) cos(2 pi u2), with fdlibm\'s log and cos, which Node 20\'s Math.log and Math.cos are) as values and IEEE 754 bits (big-endian hex), and one round\'s update: the updates\' differences from the global model clipped to clipNorm, summed, noised with noiseMultiplier x clipNorm per coordinate from the same seed, divided by their count and added to the global model, as Float32 with its bytes and SHA-256.',
    seed: hex(seed),
    words: [...prg(seed, 'dp-noise', 2 * count)],
    gaussians: [...seededGaussians(seed, count)].map((value) => ({ value, ieee: ieee(value) })),
    centralUpdate: { global: [...global], updates: updates.map((u) => [...u]), dp, weights: [...weights], weight, bytes: hex(bytes), sha256: sha256Hex(bytes) },
  };
}

if (WRITE) {
  fs.writeFileSync(path.join(DIR, 'signatures.json'), JSON.stringify(signatureVectors(), null, 2) + '\n');
  fs.writeFileSync(path.join(DIR, 'digests.json'), JSON.stringify(digestVectors(), null, 2) + '\n');
  fs.writeFileSync(path.join(DIR, 'central-noise.json'), JSON.stringify(noiseVectors(), null, 2) + '\n');
}

describe('RFC 8785 vectors (jcs.json)', () => {
  const jcs = read('jcs.json') as {
    cases: { name: string; input: string; canonical: string; canonicalUtf8Hex: string }[];
    numbers: { ieee: string; canonical: string }[];
    refused: { ieee: string }[];
  };

  it.each(jcs.cases.map((c) => [c.name, c]))('%s: the canonical form and its UTF-8 bytes', (_, c) => {
    const canonical = canonicalJson(JSON.parse(c.input));
    expect(canonical).toBe(c.canonical);
    expect(Buffer.from(canonical, 'utf8').toString('hex')).toBe(c.canonicalUtf8Hex);
  });

  it('writes every number of appendix B as the RFC does, and refuses NaN and the infinities', async () => {
    const double = (ieee: string) => Buffer.from(ieee, 'hex').readDoubleBE(0);
    expect(jcs.numbers.map((n) => canonicalJson(double(n.ieee)))).toEqual(jcs.numbers.map((n) => n.canonical));
    for (const n of jcs.refused) expect(() => canonicalJson([double(n.ieee)])).toThrow(/non-finite/);
  });
});

describe('signature vectors (signatures.json)', () => {
  const vectors = read('signatures.json');
  const computed = signatureVectors();

  it('cover every signing domain, each header a valid message of its kind', async () => {
    const domains = new Set(computed.messages.map((m) => m.domain));
    expect([...domains].sort()).toEqual([...SIGNATURE_DOMAINS].sort());
    for (const { domain, schema, header } of messages()) {
      const parsed = schema?.safeParse(header);
      expect([domain, parsed?.success ?? true]).toEqual([domain, true]);
    }
    expect(AdvertisementSchema.safeParse({ ...messages().find((m) => m.domain === 'secagg-keys')!.header, signature: 'A'.repeat(86) + '==' }).success).toBe(true);
    const { type, ...attested } = messages().find((m) => m.domain === 'model')!.header;
    expect(type).toBe('model');
    expect(AUDIT_DATA['model.committed'].safeParse({ ...attested, signature: '' }).success).toBe(true);
  });

  it('derive the same keys from their seeds', async () => {
    expect(computed.keys).toEqual(vectors.keys);
  });

  it('give the same canonical JSON, signed bytes and signatures as the code', async () => {
    expect(computed.messages).toEqual(vectors.messages);
  });

  it('verify as they are stored, each in its version, and not in the other', async () => {
    for (const m of vectors.messages as { domain: SignatureDomain; version: ProtocolVersion; signer: Signer; header: unknown; signature: string }[]) {
      const key = KEYS[m.signer].publicKey;
      expect([m.domain, m.version, verifyHeader(m.domain, m.header, m.signature, key, defaultEngine, m.version)]).toEqual([m.domain, m.version, true]);
      expect(verifyHeader(m.domain, m.header, m.signature, key, defaultEngine, m.version === 1 ? 2 : 1)).toBe(false);
      if (m.version === PROTOCOL_VERSION) expect(signHeader(m.domain, m.header, KEYS[m.signer].secretKey)).toBe(m.signature);
    }
  });
});

describe('digest vectors (digests.json)', () => {
  it('give the same bytes and digests as the code', async () => {
    expect(digestVectors()).toEqual(read('digests.json'));
  });
});

describe('central noise vectors (central-noise.json)', () => {
  it('give the same PRG words, Gaussians and central-DP update as the code', async () => {
    expect(noiseVectors()).toEqual(read('central-noise.json'));
  });
});

describe('the audit bundle vector (audit-bundle-v2)', () => {
  it('verifies with every round recomputed, its records in version 2', async () => {
    const source = new BundleSource(path.join(DIR, 'audit-bundle-v2'));
    const report = await verifyAudit(source, { coordinatorKey: source.manifest.coordinatorKey });
    expect(report.failure).toBeUndefined();
    expect(report.counts).toMatchObject({ roundsNotRecomputable: 0 });
    expect(report.counts.roundsRecomputed).toBeGreaterThan(0);
    for (const { text } of source.records()) expect(JSON.parse(text).version).toBe(2);
  });
});
