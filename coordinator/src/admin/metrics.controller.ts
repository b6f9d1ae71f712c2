/**
 * `GET /metrics`: the Prometheus scrape. The counters are fed where things
 * happen (the agents' gateway, sign-in, the store); what this adds is what the
 * round engine and the audit log report as events, and the gauges of state,
 * read from the connections and the store when scraped.
 */
import { Controller, Get, Inject, Res, type OnModuleDestroy } from '@nestjs/common';
import type { Response } from 'express';
import { JobStatusSchema, type AuditLiveEvent } from '@fl/shared';
import { AuditLog } from '../audit/audit-log';
import { Metrics } from '../core/metrics';
import { AgentConnections } from '../participants/connections';
import type { JobEvent } from '../rounds/job-run';
import { RoundEngine } from '../rounds/round-engine';
import { STORE, type Store } from '../storage/store';
import { AdminOnly, MetricsTokenToo } from '../users/admin.guard';

@Controller('metrics')
export class MetricsController implements OnModuleDestroy {
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(AgentConnections) private readonly connections: AgentConnections,
    @Inject(STORE) private readonly store: Store,
    @Inject(RoundEngine) private readonly engine: RoundEngine,
    @Inject(AuditLog) audit: AuditLog,
  ) {
    const onJob = (event: JobEvent) => {
      if (event.type !== 'round') return;
      metrics.roundsCommitted.inc();
      metrics.roundDuration.observe(Math.max(0, event.round.closedAt - event.round.startedAt) / 1000);
    };
    // Counted from the head's moves: one event may stand for several records (a round's updates come as one).
    let head = audit.headSeq;
    const onAudit = (event: AuditLiveEvent) => {
      if (event.head > head) metrics.auditAppends.inc(event.head - head);
      head = Math.max(head, event.head);
    };
    engine.events.on('job', onJob);
    audit.events.on('appended', onAudit);
    this.unsubscribe.push(
      () => engine.events.off('job', onJob),
      () => audit.events.off('appended', onAudit),
    );
  }

  onModuleDestroy(): void {
    for (const stop of this.unsubscribe) stop();
  }

  @Get()
  @AdminOnly()
  @MetricsTokenToo()
  async scrape(@Res({ passthrough: true }) response: Response): Promise<string> {
    this.metrics.participantsConnected.set(this.connections.online().length);
    this.metrics.leader.set(this.engine.led);
    const counts = new Map<string, number>(JobStatusSchema.options.map((status) => [status, 0]));
    for (const job of await this.store.listJobs()) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
    for (const [status, count] of counts) this.metrics.jobs.set({ status }, count);
    const { contentType, body } = await this.metrics.scrape();
    response.setHeader('Content-Type', contentType);
    return body;
  }
}
