/**
 * The coordinator's Prometheus metrics (prom-client): the process's own, and the
 * domain's under `fl_`. One registry per coordinator, not prom-client's global
 * one, so that several coordinators in one process (the tests, the simulator)
 * each count their own. Gauges that describe state (connected participants,
 * jobs by status) are read when scraped, by admin/metrics.controller.ts.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly participantsConnected = new Gauge({
    name: 'fl_participants_connected',
    help: 'Participant agents connected and authenticated now',
    registers: [this.registry],
  });

  readonly jobs = new Gauge({
    name: 'fl_jobs',
    help: 'Jobs in the store, by status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly roundsCommitted = new Counter({
    name: 'fl_rounds_committed_total',
    help: 'Training rounds committed since the coordinator started',
    registers: [this.registry],
  });

  readonly roundDuration = new Histogram({
    name: 'fl_round_duration_seconds',
    help: 'Time from a round being asked to its commit',
    // From a round of a few small agents on loopback to one waiting out a long deadline.
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    registers: [this.registry],
  });

  readonly agentMessages = new Counter({
    name: 'fl_agent_messages_total',
    help: "Agents' messages answered, by event and result: accepted, or the refusal's error code",
    labelNames: ['event', 'result'] as const,
    registers: [this.registry],
  });

  readonly handshakeFailures = new Counter({
    name: 'fl_handshake_failures_total',
    help: 'Agent handshakes refused, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly signInFailures = new Counter({
    name: 'fl_sign_in_failures_total',
    help: 'Refused sign-ins, by error code (UNAUTHORIZED: a wrong name or password; RATE_LIMITED: past the limit)',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly auditAppends = new Counter({
    name: 'fl_audit_records_appended_total',
    help: 'Records appended to the audit log since the coordinator started',
    registers: [this.registry],
  });

  readonly storeTransactions = new Histogram({
    name: 'fl_store_transaction_seconds',
    help: 'Time the store spends in each outermost transaction (the event loop waits for it)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The text a scrape answers, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
