/**
 * The coordinator's Prometheus metrics (prom-client): the process's own, and the
 * domain's under `fl_`. One registry per coordinator, not prom-client's global
 * one, so that several coordinators in one process (the tests, the simulator)
 * each count their own. Gauges that describe state (connected participants,
 * jobs by status) are read when scraped, by admin/metrics.controller.ts.
 */
import type { Server as NetServer, Socket as NetSocket } from 'node:net';
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

  readonly leader = new Gauge({
    name: 'fl_leader',
    help: 'Jobs whose rounds this replica runs now, as their leader (always every running job without replicas)',
    registers: [this.registry],
  });

  readonly bytesReceived = new Counter({
    name: 'fl_bytes_received_total',
    help: "Bytes received on the coordinator's connections (HTTP and WebSocket, as on the wire)",
    registers: [this.registry],
  });

  readonly bytesSent = new Counter({
    name: 'fl_bytes_sent_total',
    help: "Bytes sent on the coordinator's connections (HTTP and WebSocket, as on the wire)",
    registers: [this.registry],
  });

  /** the server's connections open now; the bytes of those closed, and the totals reported so far */
  private readonly connections = new Set<NetSocket>();
  private readonly closed = { received: 0, sent: 0 };
  private readonly reported = { received: 0, sent: 0 };

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts the bytes of every connection the server accepts, read from its socket's own counters when scraped. */
  countTraffic(server: NetServer): void {
    server.on('connection', (socket: NetSocket) => {
      this.connections.add(socket);
      socket.once('close', () => {
        this.connections.delete(socket);
        this.closed.received += socket.bytesRead;
        this.closed.sent += socket.bytesWritten;
      });
    });
  }

  private updateTraffic(): void {
    let received = this.closed.received;
    let sent = this.closed.sent;
    for (const socket of this.connections) {
      received += socket.bytesRead;
      sent += socket.bytesWritten;
    }
    this.bytesReceived.inc(Math.max(0, received - this.reported.received));
    this.bytesSent.inc(Math.max(0, sent - this.reported.sent));
    this.reported.received = Math.max(received, this.reported.received);
    this.reported.sent = Math.max(sent, this.reported.sent);
  }

  /** The text a scrape answers, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    this.updateTraffic();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
