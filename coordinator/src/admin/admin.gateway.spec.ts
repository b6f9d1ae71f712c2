import { EventEmitter } from 'node:events';
import { epsilonAfter, type JobLiveEvent, type JobSpec } from '@fl/shared';
import { AdminGateway } from './admin.gateway';
import type { AuditLog } from '../audit/audit-log';
import type { AgentConnections } from '../participants/connections';
import type { JobEvent } from '../rounds/job-run';
import type { RoundEngine } from '../rounds/round-engine';
import type { JobRecord, RoundRecord, Store } from '../storage/store';
import type { Credentials } from '../users/credentials';

const dp = { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 };

const round = (n: number): RoundRecord => ({
  job: 'j1',
  round: n,
  startedAt: 0,
  closedAt: 1,
  selected: [],
  contributors: [],
  failures: [],
  metrics: {},
  attempts: 1,
  modelSha256: 'a'.repeat(64),
  evaluation: null,
});

describe('the live feed of the admin namespace', () => {
  it("gives each round the ε its job's spec implies, reading the spec once per job, and again after the job ended", async () => {
    // Arrange: a gateway over an engine whose events are emitted by hand, a store that counts its reads
    const engine = { events: new EventEmitter() } as unknown as RoundEngine;
    const emitter = () => ({ events: new EventEmitter() });
    let reads = 0;
    const store = {
      getJob: async (id: string) => {
        reads++;
        return { id, spec: { dp } as unknown as JobSpec } as JobRecord;
      },
    } as unknown as Store;
    const gateway = new AdminGateway(engine, emitter() as unknown as AgentConnections, emitter() as unknown as Credentials, emitter() as unknown as AuditLog, store);
    const sent: JobLiveEvent[] = [];
    const namespace = { use: () => undefined, sockets: new Map(), emit: (_: string, event: JobLiveEvent) => sent.push(event) };
    gateway.afterInit(namespace as never);
    const emit = (event: JobEvent) => engine.events.emit('job', event);
    try {
      // Execute: two rounds, the job's end, and a round of the same id again
      emit({ type: 'round', job: 'j1', round: round(1) });
      emit({ type: 'evaluation', job: 'j1', round: round(1) });
      emit({ type: 'round', job: 'j1', round: round(2) });
      emit({ type: 'status', job: 'j1', status: 'completed', error: null });
      emit({ type: 'round', job: 'j1', round: round(3) });
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Assert
      const epsilons = sent.map((e) => (e.type === 'status' ? e.status : e.round.privacy?.epsilon));
      expect(epsilons).toEqual([epsilonAfter(dp, 1), epsilonAfter(dp, 1), epsilonAfter(dp, 2), 'completed', epsilonAfter(dp, 3)]);
      expect(reads).toBe(2);
    } finally {
      gateway.onModuleDestroy();
    }
  });
});
