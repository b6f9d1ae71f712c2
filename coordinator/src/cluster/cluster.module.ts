/**
 * What coordinator replicas share: the shared state (in this process, or in
 * Redis with `--redis-url`) and who leads each job. Global, like the core, so
 * that features inject them without importing each other.
 */
import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { CoordinatorConfig } from '../config/config';
import { CoordinatorLogger } from '../logger';
import { InProcessLeaderElection, LEADER_ELECTION, PgLeaderElection, type LeaderElection } from './leader-election';
import { RedisSharedState } from './redis-shared-state';
import { InProcessSharedState, SHARED_STATE, type SharedState } from './shared-state';

export async function sharedStateFor(config: CoordinatorConfig, log: CoordinatorLogger): Promise<SharedState> {
  const onError = (err: unknown) => log.error(`shared state: ${(err as Error).stack ?? String(err)}`);
  if (!config.redisUrl) return new InProcessSharedState(onError);
  const state = await RedisSharedState.connect(config.redisUrl, { prefix: config.redisPrefix, onError });
  log.info(`shared state in Redis at ${new URL(config.redisUrl).host}, keys under ${config.redisPrefix}`);
  return state;
}

/**
 * Leadership lives where the store does: on PostgreSQL, an advisory lock and an
 * epoch in the same database, so that the epoch can fence the store's writes;
 * on the embedded SQLite store there is one process, which leads every job
 * (coordinator.ts holds the data directory against a second one).
 */
export function leaderElectionFor(databaseUrl: string | undefined, log: CoordinatorLogger): LeaderElection {
  if (!databaseUrl?.startsWith('postgres')) return new InProcessLeaderElection();
  return new PgLeaderElection({ connection: databaseUrl, onError: (err) => log.warn(`leader election: ${(err as Error).message}`) });
}

@Global()
@Module({})
export class ClusterModule {
  static forConfig(config: CoordinatorConfig): DynamicModule {
    return {
      module: ClusterModule,
      providers: [
        { provide: SHARED_STATE, useFactory: (log: CoordinatorLogger) => sharedStateFor(config, log), inject: [CoordinatorLogger] },
        { provide: LEADER_ELECTION, useFactory: (log: CoordinatorLogger) => leaderElectionFor(config.databaseUrl, log), inject: [CoordinatorLogger] },
      ],
      exports: [SHARED_STATE, LEADER_ELECTION],
    };
  }
}
