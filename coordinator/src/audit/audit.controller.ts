/**
 * REST for the audit log: pages of records (each with its hash, the previous
 * hash and the coordinator's signature, to check independently), and a full
 * verification of the chain, the signatures and the retained updates against
 * the stored global models.
 */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { AuditRecordSchema, FlError } from '@fl/shared';
import { AuditVerifier } from '../audit/audit-verifier';
import { STORE, type Store } from '../storage/store';
import type { AuditPage, AuditVerification } from './views';

const MAX_PAGE = 1000;

@Controller('api/audit')
export class AuditController {
  constructor(
    @Inject(STORE) private readonly store: Store,
    @Inject(AuditVerifier) private readonly verifier: AuditVerifier,
  ) {}

  /** `?after=SEQ&limit=N`: the records after SEQ, oldest first. */
  @Get()
  page(@Query('after') after: string | undefined, @Query('limit') limit: string | undefined): AuditPage {
    const from = after === undefined ? 0 : Number(after);
    const count = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(from) || from < 0) throw new FlError('VALIDATION_FAILED', 'after must be a record number');
    if (!Number.isInteger(count) || count < 1 || count > MAX_PAGE) throw new FlError('VALIDATION_FAILED', `limit must be between 1 and ${MAX_PAGE}`);
    const records = [...this.store.auditRecords(from, count)].map(({ text }) => AuditRecordSchema.parse(JSON.parse(text)));
    return { records, head: this.store.auditHead() ?? null };
  }

  /** Verifies everything the store holds (on a large store, every retained update), off the event loop. */
  @Get('verify')
  async verify(): Promise<AuditVerification> {
    const report = await this.verifier.verify();
    return { ok: report.ok, lines: report.lines, failure: report.failure ?? null };
  }
}
