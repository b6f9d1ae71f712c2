/**
 * Canonical bytes of a signed header.
 *
 * A signature covers `FL1 \0 domain \0 canonical-json(header)`. The domain tag
 * names the purpose (handshake, update, train...), so a signature made for one
 * purpose can never be replayed as another; canonical JSON (sorted keys, no
 * whitespace, finite numbers only) makes the bytes independent of key order.
 */

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
] as const;
export type SignatureDomain = (typeof SIGNATURE_DOMAINS)[number];

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
      // What JSON.stringify writes for a finite number (-0 included), without its generic dispatch.
      return String(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      // Built by concatenation, without intermediate arrays: a train header (~12 KB)
      // is made and checked every round, and this measured ~3x faster than map/join.
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i]);
        return out + ']';
      }
      if (ArrayBuffer.isView(value)) throw new TypeError('canonical JSON cannot hold binary: sign its digest');
      const record = value as Record<string, unknown>;
      // The default sort compares UTF-16 code units, the order canonical JSON specifies.
      const keys = Object.keys(record).sort();
      let out = '{';
      for (const key of keys) {
        const item = record[key];
        if (item === undefined) continue;
        out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + canonicalJson(item);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

export function canonicalBytes(domain: SignatureDomain, header: unknown): Uint8Array {
  return Buffer.from(`FL1\0${domain}\0${canonicalJson(header)}`, 'utf8');
}
