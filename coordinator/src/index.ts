export { startCoordinator, type RunningCoordinator, type TlsSummary } from './coordinator';
export { ManualClock, systemClock, type Clock } from './core/clock';
export { loadConfig, ConfigSchema, type CoordinatorConfig, type CoordinatorConfigInput } from './config/config';
export type { JobRecord, RoundRecord, ParticipantRecord, Store } from './storage/store';
export type { JobEvent } from './rounds/job-run';
export { combineStatistics } from './strategy/statistics';
export { createStrategy, fedAvg } from './strategy/fedavg';
export { SqliteStore, STORE_FILE } from './storage/store.sqlite';
export { storeAuditSource, verifyStore } from './audit/store-source';
