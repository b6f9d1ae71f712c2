/**
 * A bundle's log rewritten as its coordinator could, with its own key: what a
 * verifier must catch by what the coordinator cannot re-sign (the sites'
 * signatures and journals, recomputed aggregates).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { auditText, AuditRecordSchema, modelAttestation, sealAuditRecord, signHeader, type AuditData, type AuditRecord } from '@fl/shared';

/** A bundle's manifest changed as `change` says. */
export function editManifest(dir: string, change: (manifest: Record<string, unknown>) => void): void {
  const file = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(manifest);
  fs.writeFileSync(file, JSON.stringify(manifest, null, 2) + '\n');
}

/**
 * A bundle's log rewritten: each record's data as `change` gives it (null
 * leaves the record out), `added` records appended (or inserted before the
 * first record `before` matches), every hash and signature made again with the
 * coordinator's own key, the manifest's count and head too. Returns the records.
 */
export function rewriteLog(
  dir: string,
  secretKey: Uint8Array,
  change: (record: AuditRecord) => AuditRecord['data'] | null,
  added: Pick<AuditRecord, 'kind' | 'actor' | 'data'>[] = [],
  before?: (record: AuditRecord) => boolean,
): AuditRecord[] {
  const file = path.join(dir, 'records.jsonl');
  const records = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => AuditRecordSchema.parse(JSON.parse(l)));
  const kept = records.flatMap((r) => {
    const data = change(r);
    return data === null ? [] : [{ record: r, entry: { at: r.at, kind: r.kind, actor: r.actor, data } }];
  });
  const at = before ? kept.findIndex(({ record }) => before(record)) : kept.length;
  const entries: Pick<AuditRecord, 'at' | 'kind' | 'actor' | 'data'>[] = kept.map(({ entry }) => entry);
  entries.splice(at, 0, ...added.map((r) => ({ ...r, at: kept[Math.min(at, kept.length - 1)].record.at })));
  let prev = records[0].prev;
  const sealed = entries.map(({ at, kind, actor, data }, i) => {
    const record = sealAuditRecord({ seq: i + 1, at, kind, actor, data, prev }, secretKey);
    prev = record.hash;
    return record;
  });
  fs.writeFileSync(file, sealed.map(auditText).join('\n') + '\n');
  editManifest(dir, (m) => Object.assign(m, { records: sealed.length, head: prev }));
  return sealed;
}

export type Attested = Omit<AuditData<'model.committed'>, 'signature'>;

/** A model.committed record's data as `change` makes it, signed again with the coordinator's key. */
export function resignCommit(data: AuditData<'model.committed'>, secretKey: Uint8Array, change: (attested: Attested) => Attested): AuditData<'model.committed'> {
  const { signature: _, ...attested } = data;
  const changed = change(attested);
  return { ...changed, signature: signHeader('model', modelAttestation(changed), secretKey) };
}
