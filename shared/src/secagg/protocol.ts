/**
 * SecAgg+ (Bell et al. 2020) as pure steps, one class per side; the transport
 * carries the plain objects they exchange. Per round:
 *
 * 1. advertise: each party signs two fresh X25519 public keys (and a hash of its
 *    self-mask seed) with its Ed25519 identity, bound to the job and round;
 * 2. share keys: it splits its self-mask seed and its mask secret key t-of-k
 *    among its neighbours, each share encrypted with ChaCha20-Poly1305 under a key
 *    HKDF derives from X25519, the job, round, source and destination as
 *    associated data;
 * 3. masked input: quantized update + PRG(self seed) ± PRG(pairwise key) for each
 *    neighbour that shared keys;
 * 4. unmask: for each party, survivors reveal either its seed share (it sent its
 *    input) or its mask-key share (it dropped), never both; the coordinator
 *    removes the masks and learns the sum alone.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, randomInt } from 'node:crypto';
import { combine, split } from 'shamir-secret-sharing';
import { canonicalJson } from '../crypto/canonical';
import { decodePublicKey, encodeKey, signHeader, verifyHeader } from '../crypto/keys';
import { SecAggError } from './errors';
import { maskSign, neighbourGraph } from './graph';
import { agreedKey, agreementPublicKey, generateAgreementKeyPair, type AgreementKeyPair } from './keys';
import { addInto, addMasks, type Mask } from './ring';

export interface SecAggRound {
  job: string;
  round: number;
}

/** Step 1: a party's keys for the round, signed (domain `secagg-keys`) with its identity key. */
export interface Advertisement extends SecAggRound {
  participant: string;
  /** encrypts the shares it exchanges (base64, 32 bytes) */
  cPublicKey: string;
  /** derives its pairwise masks */
  sPublicKey: string;
  /** SHA-256 of its self-mask seed, so a reconstruction from tampered shares is caught */
  seedCommitment: string;
  signature: string;
}

/** Step 2: one share pair, encrypted from source to destination. */
export interface EncryptedShare {
  source: string;
  destination: string;
  nonce: string;
  ciphertext: string;
}

/** Step 4's request: who sent a masked input and who, having shared keys, did not. */
export interface UnmaskRequest extends SecAggRound {
  survivors: string[];
  dropped: string[];
}

/** Step 4's answer: seed shares of survivors, mask-key shares of dropped parties, each base64. */
export interface UnmaskResponse {
  participant: string;
  seedShares: Record<string, string>;
  keyShares: Record<string, string>;
}

const SECRET_BYTES = 32;
const SHARE_BYTES = SECRET_BYTES + 1;

const advertisedHeader = (a: Omit<Advertisement, 'signature'>) => ({
  job: a.job,
  round: a.round,
  participant: a.participant,
  cPublicKey: a.cPublicKey,
  sPublicKey: a.sPublicKey,
  seedCommitment: a.seedCommitment,
});

const commitment = (seed: Uint8Array) => createHash('sha256').update(seed).digest('base64');
const pairContext = (r: SecAggRound, a: string, b: string) => canonicalJson({ job: r.job, round: r.round, pair: a < b ? [a, b] : [b, a] });
const shareAad = (r: SecAggRound, source: string, destination: string) => Buffer.from(canonicalJson({ job: r.job, round: r.round, source, destination }));

function key(text: string, what: string): Uint8Array {
  const bytes = decodePublicKey(text);
  if (!bytes) throw new SecAggError('SECAGG_BAD_KEY', `${what} is not a 32-byte key`);
  return bytes;
}

/** Checks an advertisement's signature and binding; returns its keys. */
export function verifyAdvertisement(a: Advertisement, round: SecAggRound, identityKey: Uint8Array | undefined): { c: Uint8Array; s: Uint8Array } {
  if (a.job !== round.job || a.round !== round.round) throw new SecAggError('SECAGG_BAD_SIGNATURE', `the keys of ${a.participant} are for another job or round`);
  if (!identityKey || !verifyHeader('secagg-keys', advertisedHeader(a), a.signature, identityKey)) {
    throw new SecAggError('SECAGG_BAD_SIGNATURE', `the keys of ${a.participant} are not signed by its identity key`);
  }
  return { c: key(a.cPublicKey, `the c key of ${a.participant}`), s: key(a.sPublicKey, `the s key of ${a.participant}`) };
}

/** The party's side of one round. Its secrets never leave it except as encrypted shares. */
export class SecAggClient {
  private readonly c: AgreementKeyPair = generateAgreementKeyPair();
  private readonly s: AgreementKeyPair = generateAgreementKeyPair();
  private readonly seed = new Uint8Array(randomBytes(SECRET_BYTES));
  private readonly neighbourKeys = new Map<string, { c: Uint8Array; s: Uint8Array }>();
  /** the share-encryption key of each neighbour: the same pair and context seal and open its shares, so it is agreed once */
  private readonly shareKeysOf = new Map<string, Buffer>();
  /** the shares neighbours gave this party that opened, by their source */
  private readonly held = new Map<string, { seed: Uint8Array; key: Uint8Array }>();
  /** the neighbours that dealt this party a share, opened or not: the parties it masks with */
  private readonly dealers = new Set<string>();
  /** a second masked input under the same masks would give away the difference of the two inputs */
  private masked = false;
  private answered = false;

  constructor(
    readonly round: SecAggRound,
    readonly participant: string,
    private readonly identitySecretKey: Uint8Array,
    readonly threshold: number,
  ) {}

  advertise(): Advertisement {
    const unsigned = {
      ...this.round,
      participant: this.participant,
      cPublicKey: encodeKey(this.c.publicKey),
      sPublicKey: encodeKey(this.s.publicKey),
      seedCommitment: commitment(this.seed),
    };
    return { ...unsigned, signature: signHeader('secagg-keys', advertisedHeader(unsigned), this.identitySecretKey) };
  }

  /**
   * Step 2: verifies the neighbours' advertisements and encrypts one share pair
   * for each. Fewer than t verified neighbours cannot protect the secrets: refused.
   */
  async shareKeys(adverts: Advertisement[], neighbours: readonly string[], identityKeyOf: (id: string) => Uint8Array | undefined): Promise<EncryptedShare[]> {
    const allowed = new Set(neighbours);
    for (const a of adverts) {
      if (!allowed.has(a.participant) || a.participant === this.participant) throw new SecAggError('SECAGG_NOT_NEIGHBOUR', `${a.participant} is not a neighbour`);
      this.neighbourKeys.set(a.participant, verifyAdvertisement(a, this.round, identityKeyOf(a.participant)));
      this.shareKeysOf.delete(a.participant);
    }
    const ids = [...this.neighbourKeys.keys()].sort();
    if (ids.length < this.threshold || ids.length < 2) {
      throw new SecAggError('SECAGG_TOO_FEW_NEIGHBOURS', `${ids.length} neighbours advertised keys, fewer than the threshold ${this.threshold}`);
    }
    const seedShares = await split(this.seed, ids.length, this.threshold);
    const keyShares = await split(this.s.secretKey, ids.length, this.threshold);
    return ids.map((destination, i) => {
      const aead = this.shareKey(destination);
      const nonce = randomBytes(12);
      const cipher = createCipheriv('chacha20-poly1305', aead, nonce, { authTagLength: 16 });
      cipher.setAAD(shareAad(this.round, this.participant, destination), { plaintextLength: 2 * SHARE_BYTES });
      const sealed = Buffer.concat([cipher.update(seedShares[i]), cipher.update(keyShares[i]), cipher.final(), cipher.getAuthTag()]);
      return { source: this.participant, destination, nonce: nonce.toString('base64'), ciphertext: sealed.toString('base64') };
    });
  }

  /**
   * Step 2, receiving: decrypts the shares the neighbours sent. A share that
   * does not open is skipped, not refused, so that a dealer of garbage cannot
   * keep this party out of the round: this party then holds none of that
   * dealer's secrets, but still masks with it (maskedInput), so nothing it
   * sends changes and nothing is revealed, whoever spoiled the share: the
   * dealer, or the relay. Returns why each skipped share did not open.
   */
  receiveShares(shares: EncryptedShare[]): { source: string; reason: string }[] {
    if (this.masked) throw new SecAggError('SECAGG_PHASE', 'shares after this party sent its masked input');
    const skipped: { source: string; reason: string }[] = [];
    for (const share of shares) {
      const keys = this.neighbourKeys.get(share.source);
      if (share.destination !== this.participant || !keys) throw new SecAggError('SECAGG_NOT_NEIGHBOUR', `a share from ${share.source} to ${share.destination}`);
      this.dealers.add(share.source);
      const opened = this.open(share);
      if (typeof opened === 'string') {
        this.held.delete(share.source);
        skipped.push({ source: share.source, reason: opened });
      } else this.held.set(share.source, opened);
    }
    return skipped;
  }

  /** The seed and mask-key shares a sealed share holds, or why it does not open. */
  private open(share: EncryptedShare): { seed: Uint8Array; key: Uint8Array } | string {
    const sealed = Buffer.from(share.ciphertext, 'base64');
    if (sealed.length !== 2 * SHARE_BYTES + 16) return `the share from ${share.source} has the wrong length`;
    try {
      const decipher = createDecipheriv('chacha20-poly1305', this.shareKey(share.source), Buffer.from(share.nonce, 'base64'), { authTagLength: 16 });
      decipher.setAAD(shareAad(this.round, share.source, share.destination), { plaintextLength: 2 * SHARE_BYTES });
      decipher.setAuthTag(sealed.subarray(2 * SHARE_BYTES));
      const plain = Buffer.concat([decipher.update(sealed.subarray(0, 2 * SHARE_BYTES)), decipher.final()]);
      return { seed: new Uint8Array(plain.subarray(0, SHARE_BYTES)), key: new Uint8Array(plain.subarray(SHARE_BYTES)) };
    } catch {
      return `the share from ${share.source} does not decrypt for this job, round and pair`;
    }
  }

  /**
   * Step 3: the ring input plus its self mask and a pairwise mask for each
   * neighbour that dealt it a share, opened or not (the pairwise key comes from
   * the signed advertisements); `width` words an element (ring.addInto).
   * Refused while it holds fewer than t neighbours' shares, and once given.
   */
  maskedInput(input: Uint32Array, width = 1): Uint32Array {
    if (this.masked) throw new SecAggError('SECAGG_PHASE', 'this party already sent its masked input for the round');
    if (this.held.size < this.threshold) {
      throw new SecAggError('SECAGG_TOO_FEW_NEIGHBOURS', `shares from ${this.held.size} neighbours opened, fewer than the threshold ${this.threshold}`);
    }
    const out = Uint32Array.from(input);
    const masks: Mask[] = [{ seed: this.seed, purpose: 'self', sign: 1 }];
    for (const other of this.dealers) {
      const pair = agreedKey(this.s.secretKey, this.neighbourKeys.get(other)!.s, 'pairwise mask', pairContext(this.round, this.participant, other));
      masks.push({ seed: pair, purpose: 'pair', sign: maskSign(this.participant, other) });
    }
    addMasks(out, masks, width);
    this.masked = true;
    return out;
  }

  private shareKey(neighbour: string): Buffer {
    let aead = this.shareKeysOf.get(neighbour);
    if (!aead) {
      aead = agreedKey(this.c.secretKey, this.neighbourKeys.get(neighbour)!.c, 'share encryption', pairContext(this.round, this.participant, neighbour));
      this.shareKeysOf.set(neighbour, aead);
    }
    return aead;
  }

  /**
   * Step 4: reveals the seed share of each survivor and the mask-key share of each
   * dropped party it holds shares of; a request naming a party on both sides, or a
   * second request in the round, is refused: either would let the masks of one
   * input come off.
   */
  unmask(request: UnmaskRequest): UnmaskResponse {
    if (request.job !== this.round.job || request.round !== this.round.round) throw new SecAggError('SECAGG_PHASE', 'the unmask request is for another job or round');
    const survivors = new Set(request.survivors);
    const both = request.dropped.filter((id) => survivors.has(id));
    if (both.length) throw new SecAggError('SECAGG_BOTH_SHARES', `the request asks for both shares of ${both.join(', ')}`);
    if (this.answered) throw new SecAggError('SECAGG_ALREADY_ANSWERED', 'this party already revealed its shares for the round');
    this.answered = true;
    const seedShares: Record<string, string> = {};
    const keyShares: Record<string, string> = {};
    for (const [of, shares] of this.held) {
      if (survivors.has(of)) seedShares[of] = Buffer.from(shares.seed).toString('base64');
      else if (request.dropped.includes(of)) keyShares[of] = Buffer.from(shares.key).toString('base64');
    }
    return { participant: this.participant, seedShares, keyShares };
  }
}

/** Everything the coordinator keeps of a secure round: enough to recompute the sum, and nothing that unmasks one input. */
export interface UnmaskMaterial extends SecAggRound {
  /** the round's selected participants, from which the graph is drawn */
  participants: string[];
  neighbours: number;
  threshold: number;
  adverts: Advertisement[];
  /** who sent its shares in step 2 */
  sharers: string[];
  /** step 3's inputs, by participant */
  maskedInputs: Record<string, Uint32Array>;
  /** words per ring element (ring.addInto); 1, Z_2^32, when absent */
  width?: number;
  responses: UnmaskResponse[];
}

/** A share a holder returned in step 4 that does not fit the others of its secret. */
export interface Misfit {
  holder: string;
  /** whose secret */
  of: string;
  secret: 'seed' | 'mask key';
}

/** The random t-subsets tried, after the windows, before a secret whose shares do not all fit is given up: 1,000, fewer for a large t, whose each try costs t² (about 100 ms in all at t = 128). */
const subsetAttempts = (threshold: number): number => Math.min(1000, Math.floor(2 ** 19 / threshold ** 2));

/** f(x) for the polynomial through `shares`: shifting every x by x (addition in GF(2^8) is XOR) moves f(x) to where combine evaluates, 0. */
async function evaluateAt(shares: Uint8Array[], x: number): Promise<Uint8Array> {
  return combine(shares.map((s) => Uint8Array.from(s, (b, i) => (i === s.length - 1 ? b ^ x : b))));
}

/**
 * The t-subsets tried: first windows of the shares in turn, each leaving out the
 * next n − t, so that every share is left out of one (a single altered share is
 * found whatever t, in about n / (n − t) tries); then random ones, for several.
 */
export function* subsetsOf<T>(items: readonly T[], size: number): Generator<T[]> {
  const n = items.length;
  const step = n - size;
  if (step === 0) return yield [...items];
  for (let start = 0; start < n; start += step) yield Array.from({ length: size }, (_, i) => items[(start + i) % n]);
  for (let attempt = 0; attempt < subsetAttempts(size); attempt++) yield randomSubset(items, size);
}

function randomSubset<T>(items: readonly T[], size: number): T[] {
  const pool = [...items];
  for (let i = 0; i < size; i++) {
    const j = i + randomInt(pool.length - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, size);
}

/**
 * The secret the held shares rebuild, checked by `fits` (its owner's commitment),
 * and the holders whose share does not fit it. All shares at once when they fit;
 * else t-subsets (subsetsOf) until one rebuilds a secret that fits. The commitment
 * makes that secret right, but not the subset's polynomial (altered shares can
 * cancel at 0), so holders are named only against a polynomial that more than
 * (n + t − 2) / 2 of the n shares agree with: two polynomials of degree t − 1
 * through the secret share at most t − 2 other points, so no other one can. One
 * dishonest holder then neither fails the round nor blames another; colluding
 * holders, while fewer than (n − t + 2) / 2, can at most keep from being named.
 */
async function reconstruct(held: { holder: string; share: string }[], threshold: number, what: string, fits: (secret: Uint8Array) => boolean): Promise<{ secret: Uint8Array; misfits: string[] }> {
  // An honest holder returns what it opened, 33 bytes (receiveShares checks): another length is the holder's own doing.
  const malformed: string[] = [];
  const usable: { holder: string; bytes: Uint8Array }[] = [];
  for (const { holder, share } of held) {
    const bytes = new Uint8Array(Buffer.from(share, 'base64'));
    if (bytes.length === SHARE_BYTES) usable.push({ holder, bytes });
    else malformed.push(holder);
  }
  if (usable.length < threshold) throw new SecAggError('SECAGG_THRESHOLD', `${usable.length} usable ${usable.length === 1 ? 'share' : 'shares'} of ${what}, fewer than the threshold ${threshold}`);
  // combine refuses two shares at one x; a holder may send another's x
  const distinct = (shares: { bytes: Uint8Array }[]) => new Set(shares.map((s) => s.bytes[SECRET_BYTES])).size === shares.length;
  if (distinct(usable)) {
    const secret = await combine(usable.map((u) => u.bytes));
    if (fits(secret)) return { secret, misfits: malformed };
  }
  let rebuilt: Uint8Array | undefined;
  let attempts = 0;
  for (const subset of subsetsOf(usable, threshold)) {
    attempts++;
    if (!distinct(subset)) continue;
    const secret = await combine(subset.map((u) => u.bytes));
    if (!fits(secret)) continue;
    rebuilt = secret;
    const disagreeing: string[] = [];
    for (const u of usable) {
      if (subset.includes(u)) continue;
      const expected = await evaluateAt(subset.map((s) => s.bytes), u.bytes[SECRET_BYTES]);
      if (Buffer.compare(expected, u.bytes.subarray(0, SECRET_BYTES)) !== 0) disagreeing.push(u.holder);
    }
    if (2 * (usable.length - disagreeing.length) > usable.length + threshold - 2) return { secret, misfits: [...malformed, ...disagreeing].sort() };
  }
  if (rebuilt) return { secret: rebuilt, misfits: malformed };
  throw new SecAggError('SECAGG_BAD_SHARE', `no ${threshold} of the ${usable.length} shares of ${what} rebuild what it committed to (${attempts} sets tried)`);
}

/** The secrets step 4 rebuilds: survivors' self-mask seeds and dropped parties' mask keys, base64; never both for one party. */
export interface RebuiltSecrets {
  seeds: Record<string, string>;
  maskKeys: Record<string, string>;
}

/** Who sent a masked input, and who shared keys but sent none. */
function partition(m: Pick<UnmaskMaterial, 'sharers' | 'maskedInputs'>): { survivors: string[]; dropped: string[] } {
  const survivors = Object.keys(m.maskedInputs).sort();
  const sharers = new Set(m.sharers);
  for (const id of survivors) if (!sharers.has(id)) throw new SecAggError('SECAGG_PHASE', `${id} sent a masked input without sharing its keys`);
  if (!survivors.length) throw new SecAggError('SECAGG_THRESHOLD', 'no masked input came in');
  return { survivors, dropped: [...sharers].filter((id) => !(id in m.maskedInputs)).sort() };
}

/** The secrets step 4 rebuilt, and the shares returned that did not fit them. */
export interface Rebuilt extends RebuiltSecrets {
  misfits: Misfit[];
}

/**
 * The coordinator's step 4: each survivor's seed and each dropped party's mask
 * key, rebuilt from the shares its neighbours returned and checked against what
 * it committed to. Fewer than t shares that fit for any party fails the round.
 */
export async function rebuildSecrets(m: UnmaskMaterial): Promise<Rebuilt> {
  const graph = neighbourGraph(m.participants, m.neighbours);
  const adverts = new Map(m.adverts.map((a) => [a.participant, a]));
  const { survivors, dropped } = partition(m);
  const answered = new Map(m.responses.map((r) => [r.participant, r]));
  const sharesOf = (id: string, kind: 'seedShares' | 'keyShares') =>
    (graph.get(id) ?? []).flatMap((holder) => {
      const share = answered.get(holder)?.[kind][id];
      return share === undefined ? [] : [{ holder, share }];
    });
  const rebuilt: Rebuilt = { seeds: {}, maskKeys: {}, misfits: [] };
  for (const id of survivors) {
    const { secret, misfits } = await reconstruct(sharesOf(id, 'seedShares'), m.threshold, `the seed of ${id}`, (seed) => commitment(seed) === adverts.get(id)?.seedCommitment);
    rebuilt.seeds[id] = Buffer.from(secret).toString('base64');
    rebuilt.misfits.push(...misfits.map((holder) => ({ holder, of: id, secret: 'seed' as const })));
  }
  for (const id of dropped) {
    const { secret, misfits } = await reconstruct(sharesOf(id, 'keyShares'), m.threshold, `the mask key of ${id}`, (key) => encodeKey(agreementPublicKey(key)) === adverts.get(id)?.sPublicKey);
    rebuilt.maskKeys[id] = Buffer.from(secret).toString('base64');
    rebuilt.misfits.push(...misfits.map((holder) => ({ holder, of: id, secret: 'mask key' as const })));
  }
  return rebuilt;
}

/**
 * The sum of the masked inputs with every mask removed, given the rebuilt
 * secrets: each survivor's self mask, and the pairwise masks survivors share
 * with each dropped party. Synchronous and deterministic: the audit's recompute.
 * Each secret is checked against its owner's signed advertisement, so altered
 * secrets are refused rather than giving another sum.
 */
export function removeMasks(m: Omit<UnmaskMaterial, 'responses'>, secrets: RebuiltSecrets): Uint32Array {
  const graph = neighbourGraph(m.participants, m.neighbours);
  const adverts = new Map(m.adverts.map((a) => [a.participant, a]));
  const { survivors, dropped } = partition(m);
  const length = m.maskedInputs[survivors[0]].length;
  const sum = new Uint32Array(length);
  const width = m.width ?? 1;
  for (const id of survivors) addInto(sum, m.maskedInputs[id], 1, width);
  const secret = (of: Record<string, string>, id: string, what: string) => {
    const bytes = of[id] === undefined ? undefined : new Uint8Array(Buffer.from(of[id], 'base64'));
    if (!bytes || bytes.length !== SECRET_BYTES) throw new SecAggError('SECAGG_BAD_SHARE', `no ${what} of ${id}`);
    return bytes;
  };
  const masks: Mask[] = [];
  for (const id of survivors) {
    const seed = secret(secrets.seeds, id, 'seed');
    if (commitment(seed) !== adverts.get(id)?.seedCommitment) throw new SecAggError('SECAGG_BAD_SHARE', `the seed of ${id} does not match its commitment`);
    masks.push({ seed, purpose: 'self', sign: -1 });
  }
  for (const id of dropped) {
    const maskKey = secret(secrets.maskKeys, id, 'mask key');
    if (encodeKey(agreementPublicKey(maskKey)) !== adverts.get(id)?.sPublicKey) throw new SecAggError('SECAGG_BAD_SHARE', `the mask key of ${id} does not match its public key`);
    for (const other of graph.get(id) ?? []) {
      if (!(other in m.maskedInputs)) continue;
      const pair = agreedKey(maskKey, key(adverts.get(other)!.sPublicKey, `the s key of ${other}`), 'pairwise mask', pairContext(m, id, other));
      // `other` added sign(other, id)·PRG(pair); take it back out
      masks.push({ seed: pair, purpose: 'pair', sign: maskSign(other, id) === 1 ? -1 : 1 });
    }
  }
  addMasks(sum, masks, width);
  return sum;
}

/** Step 4 whole: rebuild the secrets, remove the masks. */
export async function unmaskSum(m: UnmaskMaterial): Promise<Uint32Array> {
  return removeMasks(m, await rebuildSecrets(m));
}
