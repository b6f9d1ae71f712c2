/**
 * Ed25519 keys and signatures: the only module that imports tweetnacl.
 *
 * Keys are made by tweetnacl. Signing and verifying go through node:crypto when
 * the runtime has Ed25519 (Node >= 16: ~60 us instead of tweetnacl's 5-10 ms);
 * Ed25519 is deterministic, so both produce the same bytes and verify each
 * other's signatures (tested both ways).
 */
import * as nodeCrypto from 'node:crypto';
import nacl from 'tweetnacl';
import { canonicalBytes, PROTOCOL_VERSION, type ProtocolVersion, type SignatureDomain } from './canonical';

export interface KeyPair {
  /** 32 bytes */
  publicKey: Uint8Array;
  /** 64 bytes: seed then public key, tweetnacl's layout */
  secretKey: Uint8Array;
}

export interface SignatureEngine {
  readonly name: 'node:crypto' | 'tweetnacl';
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
}

export const tweetnaclEngine: SignatureEngine = {
  name: 'tweetnacl',
  sign: (message, secretKey) => nacl.sign.detached(message, secretKey),
  verify: (message, signature, publicKey) =>
    signature.length === nacl.sign.signatureLength &&
    publicKey.length === nacl.sign.publicKeyLength &&
    nacl.sign.detached.verify(message, signature, publicKey),
};

// DER prefixes that wrap a raw 32-byte Ed25519 key as SPKI (public) and PKCS#8 (private).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const MAX_CACHED_KEYS = 10_000;

function cached<K, V>(cache: Map<K, V>, key: K, make: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    if (cache.size >= MAX_CACHED_KEYS) cache.clear();
    value = make();
    cache.set(key, value);
  }
  return value;
}

function makeNodeEngine(): SignatureEngine {
  const publicKeys = new Map<string, nodeCrypto.KeyObject>();
  const privateKeys = new Map<string, nodeCrypto.KeyObject>();
  const publicKeyObject = (raw: Uint8Array) =>
    cached(publicKeys, Buffer.from(raw).toString('base64'), () =>
      nodeCrypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }),
    );
  const privateKeyObject = (secretKey: Uint8Array) =>
    cached(privateKeys, Buffer.from(secretKey).toString('base64'), () =>
      nodeCrypto.createPrivateKey({
        key: Buffer.concat([PKCS8_PREFIX, secretKey.subarray(0, 32)]),
        format: 'der',
        type: 'pkcs8',
      }),
    );
  return {
    name: 'node:crypto',
    sign: (message, secretKey) => new Uint8Array(nodeCrypto.sign(null, message, privateKeyObject(secretKey))),
    verify: (message, signature, publicKey) => {
      if (signature.length !== 64 || publicKey.length !== 32) return false;
      try {
        return nodeCrypto.verify(null, message, publicKeyObject(publicKey), signature);
      } catch {
        return false;
      }
    },
  };
}

function detectEngine(): SignatureEngine {
  try {
    const engine = makeNodeEngine();
    const probe = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
    const message = Buffer.from('probe');
    const signature = engine.sign(message, probe.secretKey);
    if (tweetnaclEngine.verify(message, signature, probe.publicKey)) return engine;
  } catch {
    // Runtime without Ed25519 in node:crypto: fall back to tweetnacl below.
  }
  return tweetnaclEngine;
}

/** The engine used by sign/verify: node:crypto where it works, else tweetnacl. */
export const defaultEngine: SignatureEngine = detectEngine();

export function generateKeyPair(): KeyPair {
  const pair = nacl.sign.keyPair();
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

/** The key pair of a 32-byte seed (RFC 8032's private key): test vectors name their keys by seed. */
export function keyPairFromSeed(seed: Uint8Array): KeyPair {
  if (seed.length !== nacl.sign.seedLength) throw new Error('an Ed25519 seed has 32 bytes');
  const pair = nacl.sign.keyPair.fromSeed(seed);
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

export function keyPairFromSecretKey(secretKey: Uint8Array): KeyPair {
  if (secretKey.length !== nacl.sign.secretKeyLength) throw new Error('an Ed25519 secret key has 64 bytes');
  const pair = nacl.sign.keyPair.fromSecretKey(secretKey);
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

export function randomNonce(bytes = 16): string {
  return Buffer.from(nacl.randomBytes(bytes)).toString('base64');
}

export const encodeKey = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** Decodes a base64 public key, or returns null when it is not 32 bytes. */
export function decodePublicKey(text: string): Uint8Array | null {
  const bytes = Buffer.from(text, 'base64');
  return bytes.length === 32 && bytes.toString('base64') === text ? new Uint8Array(bytes) : null;
}

/** A short, human-comparable fingerprint: SHA-256 of the key, 16 bytes in groups. */
export function fingerprint(publicKey: Uint8Array): string {
  const hex = nodeCrypto.createHash('sha256').update(publicKey).digest('hex').slice(0, 32);
  return hex.match(/.{4}/g)!.join(':');
}

/** Signs a header for one purpose; returns the base64 signature. */
export function signHeader(
  domain: SignatureDomain,
  header: unknown,
  secretKey: Uint8Array,
  engine: SignatureEngine = defaultEngine,
): string {
  return Buffer.from(engine.sign(canonicalBytes(domain, header), secretKey)).toString('base64');
}

export function verifyHeader(
  domain: SignatureDomain,
  header: unknown,
  signature: string,
  publicKey: Uint8Array,
  engine: SignatureEngine = defaultEngine,
  /** the version the signature was made under: an audit record's, when it verifies what was signed before version 2 */
  version: ProtocolVersion = PROTOCOL_VERSION,
): boolean {
  let message: Uint8Array;
  try {
    message = canonicalBytes(domain, header, version);
  } catch {
    return false;
  }
  return engine.verify(message, Buffer.from(signature, 'base64'), publicKey);
}
