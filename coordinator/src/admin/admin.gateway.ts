/**
 * The dashboard's live view, the Socket.IO namespace /admin. Thin: it admits
 * any signed-in user or API token (admin or viewer) in the handshake, and
 * forwards to every dashboard what the round engine reports about jobs, when
 * participants come and go, and what the audit log records (enrollments,
 * decisions, invitations). Dashboards send nothing here: every change goes
 * through the REST API, where the roles are enforced.
 */
import { Inject, Logger, type OnModuleDestroy } from '@nestjs/common';
import { WebSocketGateway, type OnGatewayInit } from '@nestjs/websockets';
import type { Namespace } from 'socket.io';
import { ADMIN_NAMESPACE, type AdminHandshakeAuth, type AdminLiveEvents, type AuditLiveEvent, type ErrorBody, type JobSpec, type JobStatus, type ParticipantPresence } from '@fl/shared';
import { AuditLog } from '../audit/audit-log';
import { AgentConnections } from '../participants/connections';
import type { JobEvent } from '../rounds/job-run';
import { RoundEngine } from '../rounds/round-engine';
import { toJobLiveEvent } from '../jobs/job.views';
import { STORE, type Store } from '../storage/store';
import { Credentials } from '../users/credentials';

type AdminNamespace = Namespace<Record<string, never>, AdminLiveEvents>;

const ENDED: JobStatus[] = ['completed', 'failed', 'stopped'];

@WebSocketGateway({ namespace: ADMIN_NAMESPACE })
export class AdminGateway implements OnGatewayInit<AdminNamespace>, OnModuleDestroy {
  private readonly unsubscribe: (() => void)[] = [];

  constructor(
    @Inject(RoundEngine) private readonly engine: RoundEngine,
    @Inject(AgentConnections) private readonly connections: AgentConnections,
    @Inject(Credentials) private readonly credentials: Credentials,
    @Inject(AuditLog) private readonly audit: AuditLog,
    @Inject(STORE) private readonly store: Store,
  ) {}

  afterInit(namespace: AdminNamespace): void {
    namespace.use(async (socket, next) => {
      // Both roles may watch: nothing can be changed through this namespace.
      const token = (socket.handshake.auth as Partial<AdminHandshakeAuth> | undefined)?.token;
      if (await this.credentials.identify(token).catch(() => null)) {
        (socket.data as { token?: unknown }).token = token;
        return next();
      }
      const body: ErrorBody = { code: 'UNAUTHORIZED', message: 'send a session or API token as auth: { token }' };
      // socket.io sends `data` to the client with the connect_error.
      next(Object.assign(new Error(body.message), { data: body }));
    });
    // A round's ε follows from its job's spec, as in the REST view; one queue keeps the events in the order they happened.
    let jobEvents = Promise.resolve();
    // A job's spec never changes: read once per job, not at every round (the read parses the whole spec).
    const specs = new Map<string, JobSpec | undefined>();
    const specOf = async (job: string) => {
      if (!specs.has(job)) {
        // Jobs this replica saw end are dropped; those it handed to another, or stopped running at shutdown, are not: bounded here.
        if (specs.size >= 1000) specs.clear();
        specs.set(job, (await this.store.getJob(job))?.spec);
      }
      return specs.get(job);
    };
    const onJob = (event: JobEvent) => {
      jobEvents = jobEvents
        .then(async () => {
          if (event.type === 'status' && ENDED.includes(event.status)) specs.delete(event.job);
          namespace.emit('job', toJobLiveEvent(event, event.type === 'status' ? undefined : await specOf(event.job)));
        })
        .catch((err: unknown) => Logger.warn(`live job event not sent: ${(err as Error).message}`, 'AdminGateway'));
    };
    const onPresence = (p: ParticipantPresence) => namespace.emit('participant', { name: p.name, online: p.online, lastSeen: p.lastSeen });
    // A token that stops working (signed out, revoked, its user removed, its session expired) stops the feed too, whichever replica it was revoked on.
    const recheck = () => {
      for (const socket of namespace.sockets.values()) {
        void this.credentials.identify((socket.data as { token?: unknown }).token).then(
          (principal) => principal || socket.disconnect(true),
          // A store that cannot answer now (stopping) cuts no feed: the next check decides.
          () => undefined,
        );
      }
    };
    // A session that expires is announced by nobody, nor is a revocation Redis failed to publish: they end at the next check.
    const expiries = setInterval(recheck, 60_000).unref();
    // Enrollments, decisions and invitations reach the dashboards as audit records are written.
    const onAudit = (event: AuditLiveEvent) => namespace.emit('audit', { head: event.head, kinds: event.kinds });
    this.engine.events.on('job', onJob);
    this.connections.events.on('presence', onPresence);
    this.audit.events.on('appended', onAudit);
    this.credentials.events.on('revoked', recheck);
    this.unsubscribe.push(
      () => this.engine.events.off('job', onJob),
      () => this.connections.events.off('presence', onPresence),
      () => this.credentials.events.off('revoked', recheck),
      () => this.audit.events.off('appended', onAudit),
      () => clearInterval(expiries),
    );
  }

  onModuleDestroy(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }
}
