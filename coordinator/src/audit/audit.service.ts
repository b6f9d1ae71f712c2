/** Reads of the audit log for the REST API: pages of records, filtered or not, and a full verification. */
import { Inject, Injectable } from '@nestjs/common';
import { AuditRecordSchema, type AuditPage, type AuditPageQuery, type AuditVerification } from '@fl/shared';
import { STORE, type AuditFilter, type Store } from '../storage/store';
import { AuditVerifier } from './audit-verifier';

@Injectable()
export class AuditService {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(AuditVerifier) private readonly verifier: AuditVerifier,
  ) {}

  /** A page of the records that match the query's filters (AuditPageQuerySchema), oldest first, read with the head in one snapshot. */
  async page({ after, before, limit, kind, job, participant }: AuditPageQuery): Promise<AuditPage> {
    const filter: AuditFilter = { kinds: kind, job, participant };
    if (kind || job || participant) await this.store.indexAudit();
    return this.store.transaction(
      async () => {
        const page = await this.store.auditPage(filter, { after, before, limit });
        const records = page.records.map(({ text }) => AuditRecordSchema.parse(JSON.parse(text)));
        const head = await this.store.auditHead();
        return { records, head: head ? { seq: head.seq, hash: head.hash } : null, more: page.more };
      },
      { snapshot: true },
    );
  }

  /** Verifies everything the store holds (on a large store, every retained update), off the event loop. */
  async verify(): Promise<AuditVerification> {
    const report = await this.verifier.verify();
    return { ok: report.ok, lines: report.lines, failure: report.failure ? { where: report.failure.where, reason: report.failure.reason } : null };
  }
}
