/**
 * Protocol version 1's canonical JSON (sorted keys, no whitespace, finite
 * numbers only), frozen: it is kept only to verify audit records, anchors and
 * signatures written before version 2. On JSON data it gives the same text as
 * RFC 8785; a version-1 signature still differs from a version-2 one by its
 * `FL1` prefix. Nothing new is made with it.
 */
export function canonicalJsonV1(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold a non-finite number');
      return String(value);
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJsonV1(value[i]);
        return out + ']';
      }
      if (ArrayBuffer.isView(value)) throw new TypeError('canonical JSON cannot hold binary: sign its digest');
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      let out = '{';
      for (const key of keys) {
        const item = record[key];
        if (item === undefined) continue;
        out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + canonicalJsonV1(item);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
  }
}
