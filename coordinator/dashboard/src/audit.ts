/**
 * The audit log's filters, as the API takes them and as the audit page's
 * address holds them (`/audit?job=…&participant=…&kind=…`, kind repeated for
 * several): a link opens a filtered view, and the back button the one before.
 */
import type { AuditPageQuery } from '@fl/shared';

/**
 * Which audit records to read: those that match every filter given, as the
 * API's query names them; the kinds as an address writes them (the API refuses
 * one it does not know).
 */
export type AuditFilter = Pick<AuditPageQuery, 'job' | 'participant'> & { kind?: string[] };

/** The filter as query parameters, for the API and the page's address alike. */
export function filterQuery(filter: AuditFilter): URLSearchParams {
  const query = new URLSearchParams();
  if (filter.job) query.set('job', filter.job);
  if (filter.participant) query.set('participant', filter.participant);
  for (const kind of filter.kind ?? []) query.append('kind', kind);
  return query;
}

/** The filter in an address's query. */
export function filterOf(search: string): AuditFilter {
  const query = new URLSearchParams(search);
  const kind = query.getAll('kind').filter(Boolean);
  const job = query.get('job');
  const participant = query.get('participant');
  return { ...(kind.length > 0 && { kind }), ...(job && { job }), ...(participant && { participant }) };
}

/** The audit page showing the records that match. */
export function auditLink(filter: AuditFilter): string {
  const query = filterQuery(filter).toString();
  return query ? `/audit?${query}` : '/audit';
}

export const isFiltered = (filter: AuditFilter): boolean => Boolean(filter.kind?.length || filter.job || filter.participant);
