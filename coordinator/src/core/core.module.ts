/**
 * What every feature module needs, made once from the parsed configuration:
 * the configuration itself, the log, the metrics, the store and the coordinator's identity.
 * Global, so that feature modules inject these without importing each other.
 */
import { Global, Module, type DynamicModule } from '@nestjs/common';
import { COORDINATOR_CONFIG, type CoordinatorConfig } from '../config/config';
import { CLOCK, type Clock } from './clock';
import { CoordinatorIdentity } from '../identity/identity';
import { CoordinatorLogger } from '../logger';
import { Metrics } from './metrics';
import { openStore, type StoreLocation } from '../storage/open';
import { STORE } from '../storage/store';

/** Where the store is: the audit verifier opens it again, read-only, on its own thread. */
export const storeLocation = (config: CoordinatorConfig): StoreLocation => ({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });

@Global()
@Module({})
export class CoreModule {
  static forConfig(config: CoordinatorConfig, clock: Clock): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: COORDINATOR_CONFIG, useValue: config },
        { provide: CLOCK, useValue: clock },
        { provide: CoordinatorLogger, useValue: new CoordinatorLogger(config.logLevel, undefined, config.logFormat) },
        { provide: Metrics, useFactory: () => new Metrics() },
        {
          provide: STORE,
          useFactory: (metrics: Metrics) => openStore(storeLocation(config), { onTransaction: (seconds) => metrics.storeTransactions.observe(seconds) }),
          inject: [Metrics],
        },
        { provide: CoordinatorIdentity, useFactory: () => CoordinatorIdentity.load(config) },
      ],
      exports: [COORDINATOR_CONFIG, CLOCK, CoordinatorLogger, Metrics, STORE, CoordinatorIdentity],
    };
  }
}
