/**
 * What the audit log is filtered by, kept beside each record's text, which
 * stays byte for byte as sealed: its kind, its job (`data.job`) and the
 * participants it is about (auditParticipants), all read from the text itself.
 *
 * A record whose kind column is null is not indexed yet: every record written
 * before the migration that made the index, and one written by a coordinator
 * of an earlier release while a rolling upgrade goes on (it knows nothing of
 * the index). The store indexes those at its start and before a filtered read
 * (Store.indexAudit); a change to what a kind is indexed by would set their
 * kind back to null, in a migration, to have them indexed again.
 */
import { sql, type Kysely } from 'kysely';
import { auditParticipants } from '@fl/shared';
import { batches } from './batches';
import type { Tables } from './schema';

export interface AuditIndex {
  /** '' for a text that is not a record (written by a test), which no filter asks for */
  kind: string;
  job: string | null;
  participants: string[];
}

const objectOr = (value: unknown): Record<string, unknown> => (value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

export function auditIndexOf(text: string): AuditIndex {
  let record: Record<string, unknown>;
  try {
    record = objectOr(JSON.parse(text));
  } catch {
    record = {};
  }
  const kind = typeof record.kind === 'string' ? record.kind : '';
  const data = objectOr(record.data);
  return {
    kind,
    job: typeof data.job === 'string' ? data.job : null,
    participants: auditParticipants({ kind, actor: typeof record.actor === 'string' ? record.actor : '', data }),
  };
}

/** The rows of audit_participants for records of the log. */
export const participantRows = (records: readonly { seq: number; index: AuditIndex }[]) =>
  records.flatMap(({ seq, index }) => index.participants.map((participant) => ({ participant, seq })));

/** Records indexed a time by indexAuditPage: their texts in memory at once. */
const INDEX_PAGE = 500;

/**
 * Indexes the first records after `after` not indexed yet (kind null), a page
 * of them, on `db` (a transaction); answers the last one's seq, or undefined
 * when none is left. Read on from the last one indexed: PostgreSQL keeps the
 * index entries of the rows a transaction updated as dead ones until it ends,
 * and a read from the start would step over them again.
 */
export async function indexAuditPage(db: Kysely<Tables>, after: number): Promise<number | undefined> {
  const rows = await db.selectFrom('audit').select(['seq', 'record']).where('kind', 'is', null).where('seq', '>', after).orderBy('seq').limit(INDEX_PAGE).execute();
  if (rows.length === 0) return undefined;
  const indexed = rows.map(({ seq, record }) => ({ seq, index: auditIndexOf(record) }));
  // Another replica may have indexed the same records: the same rows, once.
  for (const batch of batches(participantRows(indexed))) {
    await db.insertInto('audit_participants').values(batch).onConflict((oc) => oc.doNothing()).execute();
  }
  // One statement a page (VALUES' columns are column1… in both dialects), not one a record.
  const values = indexed.map(({ seq, index }) => sql`(CAST(${seq} AS INTEGER), ${index.kind}, ${index.job})`);
  await sql`UPDATE audit SET kind = v.column2, job = v.column3 FROM (VALUES ${sql.join(values)}) AS v WHERE audit.seq = v.column1`.execute(db);
  return rows[rows.length - 1].seq;
}
