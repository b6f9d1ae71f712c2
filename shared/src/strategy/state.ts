/**
 * A strategy's state across rounds (server optimiser moments, control
 * variates): named float64 vectors, stored with each committed round and named
 * in its audit record by the SHA-256 of its bytes. Float64 and a lossless byte
 * form, so that a coordinator resuming from the store, and a verifier
 * recomputing from it, continue from exactly the numbers the round produced.
 *
 * Bytes: a 4-byte little-endian length, the JSON `[[name, length], ...]` sorted
 * by name, then each vector's float64 little-endian values in that order.
 */
import { sha256Hex } from '../codec/weights';

export type StrategyState = Readonly<Record<string, Float64Array>>;

export const EMPTY_STATE: StrategyState = Object.freeze({});

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function encodeState(state: StrategyState): Buffer {
  const names = Object.keys(state).sort(byName);
  const head = Buffer.from(JSON.stringify(names.map((name) => [name, state[name].length])), 'utf8');
  const values = names.reduce((n, name) => n + state[name].length, 0);
  const out = Buffer.alloc(4 + head.byteLength + values * 8);
  out.writeUInt32LE(head.byteLength, 0);
  head.copy(out, 4);
  let at = 4 + head.byteLength;
  for (const name of names) {
    for (const value of state[name]) {
      out.writeDoubleLE(value, at);
      at += 8;
    }
  }
  return out;
}

/** The state of some bytes; null when they are not a state's encoding. */
export function decodeState(data: Uint8Array): StrategyState | null {
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength < 4) return null;
  const headLength = bytes.readUInt32LE(0);
  if (4 + headLength > bytes.byteLength) return null;
  let entries: unknown;
  try {
    entries = JSON.parse(bytes.subarray(4, 4 + headLength).toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(entries)) return null;
  const state: Record<string, Float64Array> = {};
  let at = 4 + headLength;
  let previous: string | undefined;
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2) return null;
    const [name, length] = entry as unknown[];
    if (typeof name !== 'string' || !Number.isInteger(length) || (length as number) < 0) return null;
    // Sorted and unique: one state, one encoding, so that its digest names it.
    if (previous !== undefined && byName(previous, name) >= 0) return null;
    previous = name;
    if (at + (length as number) * 8 > bytes.byteLength) return null;
    const vector = new Float64Array(length as number);
    for (let i = 0; i < vector.length; i++, at += 8) vector[i] = bytes.readDoubleLE(at);
    state[name] = vector;
  }
  return at === bytes.byteLength ? state : null;
}

/** The digest audit records name a state by. */
export const stateDigest = (state: StrategyState): string => sha256Hex(encodeState(state));
