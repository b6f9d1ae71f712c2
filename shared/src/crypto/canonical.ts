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
  'train',
  'update',
  'evaluate',
  'evaluation',
] as const;
export type SignatureDomain = (typeof SIGNATURE_DOMAINS)[number];

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
      return JSON.stringify(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      if (ArrayBuffer.isView(value)) throw new TypeError('canonical JSON cannot hold binary: sign its digest');
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}

export function canonicalBytes(domain: SignatureDomain, header: unknown): Uint8Array {
  return Buffer.from(`FL1\0${domain}\0${canonicalJson(header)}`, 'utf8');
}
