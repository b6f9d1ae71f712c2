/**
 * Anchors of the audit log's tail, kept outside the store. The chain proves
 * that no record was changed or inserted, but not that none was cut from the
 * end: a store missing its newest records is still a valid chain. So the
 * coordinator appends each new head (the newest record's number, hash and
 * signature, which the coordinator key made over { seq, hash }) to a file
 * beside the store, and may send it to an external sink; participants keep the
 * heads they were shown in train requests. A log that ends before an anchored
 * head, or holds another record there, was cut or rewritten.
 *
 *   audit-anchors.jsonl: one JSON object a line, { seq, hash, signature, at[, version] }
 */
import { z } from 'zod';
import { decodePublicKey, defaultEngine, verifyHeader } from '../crypto/keys';
import { recordVersion, type AuditRecord } from './record';

/** The anchors' file, beside the store in the data directory. */
export const AUDIT_ANCHORS_FILE = 'audit-anchors.jsonl';

export const AuditAnchorSchema = z.strictObject({
  seq: z.number().int().min(1),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** the record's own signature: domain 'audit' over { seq, hash } */
  signature: z.string(),
  /** when it was anchored (ms since the epoch) */
  at: z.number().int(),
  /** the record's format version: absent for version 1 */
  version: z.literal(2).optional(),
});
export type AuditAnchor = z.infer<typeof AuditAnchorSchema>;

export function anchorOf(record: AuditRecord, at: number): AuditAnchor {
  return { seq: record.seq, hash: record.hash, signature: record.signature, at, ...(record.version !== undefined && { version: record.version }) };
}

/** The anchors of a file's text, and the lines that are not anchors (numbered from 1). */
export function parseAnchors(text: string): { anchors: AuditAnchor[]; malformed: number[] } {
  const anchors: AuditAnchor[] = [];
  const malformed: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: z.ZodSafeParseResult<AuditAnchor> | undefined;
    try {
      parsed = AuditAnchorSchema.safeParse(JSON.parse(line));
    } catch {
      // not JSON: malformed below
    }
    if (parsed?.success) anchors.push(parsed.data);
    else malformed.push(i + 1);
  });
  return { anchors, malformed };
}

/**
 * Holds a log to its anchors: each anchor signed by the coordinator key, the
 * log's record at its number having its hash, and the log reaching the newest.
 * `hashAt(seq)` is the log's record hash at seq, undefined past its end.
 * Answers why not, or undefined when the log agrees with every anchor.
 */
export function anchorProblem(
  anchors: readonly AuditAnchor[],
  hashAt: (seq: number) => string | undefined,
  lastSeq: number,
  coordinatorKey: string,
): string | undefined {
  const key = decodePublicKey(coordinatorKey);
  if (!key) return 'the coordinator key of the log cannot be decoded';
  let newest: AuditAnchor | undefined;
  for (const anchor of anchors) {
    const when = new Date(anchor.at).toISOString();
    if (!verifyHeader('audit', { seq: anchor.seq, hash: anchor.hash }, anchor.signature, key, defaultEngine, recordVersion(anchor))) {
      return `the anchor of record ${anchor.seq} (${when}) is not signed by the coordinator key`;
    }
    if (!newest || anchor.seq > newest.seq) newest = anchor;
    const hash = hashAt(anchor.seq);
    if (hash !== undefined && hash !== anchor.hash) {
      return `record ${anchor.seq} has hash ${hash}, but hash ${anchor.hash} was anchored at ${when}: the log was rewritten from there`;
    }
  }
  if (newest && newest.seq > lastSeq) {
    return `the log ends at record ${lastSeq}, but record ${newest.seq} was anchored at ${new Date(newest.at).toISOString()}: records were removed from its end`;
  }
  return undefined;
}
