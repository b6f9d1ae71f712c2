/**
 * Canonical bytes of a signed header, by protocol version.
 *
 * Version 2 (current): a signature covers `FL2 \0 domain \0 JCS(header)`, JCS
 * being the JSON Canonicalization Scheme of RFC 8785 (sorted keys by UTF-16
 * code units, no whitespace, numbers as ECMAScript prints them), so that a
 * verifier in any language can rebuild the bytes from the specification
 * (docs/protocol.md). Version 1 covered `FL1 \0 domain \0` and the project's
 * own canonical JSON (canonical-v1.ts); it is kept to verify what was signed
 * before. The domain tag names the purpose (handshake, update, train...), so a
 * signature made for one purpose can never be replayed as another; the prefix
 * names the version, so one is never read as the other.
 */
import { canonicalize } from 'json-canonicalize';
import { canonicalJsonV1 } from './canonical-v1';

export const SIGNATURE_DOMAINS = [
  'handshake',
  'welcome',
  'statistics-request',
  'statistics',
  'setup',
  'train',
  'update',
  'evaluate',
  'evaluation',
  // a site's report that it cannot answer a request, or declines the job under its policy
  'failure',
  // enrollment: the agent proves it holds the key it registers; the coordinator answers signed
  'enrollment',
  'enrolled',
  // the audit log: each record's hash, and each global model the coordinator commits
  'audit',
  'model',
  // secure aggregation: a party's per-round X25519 keys, bound to its identity
  'secagg-keys',
  // secure aggregation: the coordinator's request for a step, and a party's answer
  'secagg-request',
  'secagg',
] as const;
export type SignatureDomain = (typeof SIGNATURE_DOMAINS)[number];

/** The protocol version this code speaks: what it signs, hashes and announces in the handshake. */
export const PROTOCOL_VERSION = 2 as const;
/** Every version whose signatures and audit records this code verifies. */
export const PROTOCOL_VERSIONS = [1, 2] as const;
export type ProtocolVersion = (typeof PROTOCOL_VERSIONS)[number];

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Refuses what RFC 8785 leaves undefined (it takes I-JSON only) and what would
 * serialize silently but wrongly: binary, non-finite numbers, lone surrogates.
 */
function assertJsonData(value: unknown): void {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
      return;
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new TypeError('canonical JSON cannot hold a lone surrogate (RFC 8785 takes I-JSON)');
      return;
    case 'boolean':
    case 'undefined':
      return;
    case 'object': {
      if (value === null) return;
      if (Array.isArray(value)) {
        for (const item of value) assertJsonData(item);
        return;
      }
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) throw new TypeError('canonical JSON cannot hold binary: sign its digest');
      for (const key of Object.keys(value)) {
        if (LONE_SURROGATE.test(key)) throw new TypeError('canonical JSON cannot hold a lone surrogate (RFC 8785 takes I-JSON)');
        assertJsonData((value as Record<string, unknown>)[key]);
      }
      return;
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

/** RFC 8785 (JCS): the canonical JSON of everything signed or hashed from version 2 on. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) throw new TypeError('canonical JSON cannot hold a undefined');
  assertJsonData(value);
  return canonicalize(value);
}

/** The canonical JSON of a protocol version: JCS from 2 on, the frozen form before. */
export const canonicalJsonOf = (version: ProtocolVersion, value: unknown): string =>
  version === 1 ? canonicalJsonV1(value) : canonicalJson(value);

/** The bytes a signature covers: `FL<version> \0 domain \0 canonical JSON of the header`, UTF-8. */
export function canonicalBytes(domain: SignatureDomain, header: unknown, version: ProtocolVersion = PROTOCOL_VERSION): Uint8Array {
  return Buffer.from(`FL${version}\0${domain}\0${canonicalJsonOf(version, header)}`, 'utf8');
}
