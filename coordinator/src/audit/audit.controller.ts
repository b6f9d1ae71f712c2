/**
 * REST for the audit log: pages of records (each with its hash, the previous
 * hash and the coordinator's signature, to check independently), and a full
 * verification of the chain, the signatures and the retained updates against
 * the stored global models.
 */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { AuditPageQuerySchema, type AuditPage, type AuditVerification } from '@fl/shared';
import { parseBody } from '../validation';
import { AuditService } from './audit.service';

@Controller('api/audit')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  /** `?after=SEQ&before=SEQ&limit=N&kind=K&job=ID&participant=NAME`: a page of the records that match, oldest first. */
  @Get()
  page(@Query() query: unknown): Promise<AuditPage> {
    return this.audit.page(parseBody(AuditPageQuerySchema, query));
  }

  @Get('verify')
  verify(): Promise<AuditVerification> {
    return this.audit.verify();
  }
}
