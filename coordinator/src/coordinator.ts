/** Starts and stops a coordinator: the entry point of the CLI, the demo and the tests. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { ServerOptions } from 'socket.io';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { serveDashboard } from './admin/dashboard-files';
import { ConfigSchema, type CoordinatorConfig, type CoordinatorConfigInput } from './config/config';
import { CoordinatorModule } from './app.module';
import { CoordinatorIdentity } from './identity/identity';
import { CoordinatorLogger } from './logger';
import { AgentConnections } from './participants/connections';
import { RoundEngine } from './rounds/round-engine';
import { STORE, type Store } from './storage/store';

/** Socket.IO with the frame limit set on purpose (the library's default is 1 MB). */
class SizedIoAdapter extends IoAdapter {
  constructor(
    app: INestApplication,
    private readonly maxFrameBytes: number,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions) {
    return super.createIOServer(port, { ...options, maxHttpBufferSize: this.maxFrameBytes });
  }
}

export interface RunningCoordinator {
  url: string;
  port: number;
  adminToken: string;
  config: CoordinatorConfig;
  identity: CoordinatorIdentity;
  engine: RoundEngine;
  store: Store;
  app: INestApplication;
  close(): Promise<void>;
}

/** The token given in the configuration, else the one kept in the data directory (made on first start). */
function adminToken(config: CoordinatorConfig): string {
  if (config.adminToken) return config.adminToken;
  const file = path.join(config.dataDir, 'admin-token');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const token = randomBytes(24).toString('base64url');
  fs.writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return token;
}

export async function startCoordinator(input: CoordinatorConfig | CoordinatorConfigInput): Promise<RunningCoordinator> {
  const config = ConfigSchema.parse(input);
  config.dataDir = path.resolve(config.dataDir);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const token = adminToken(config);
  const app = await NestFactory.create<NestExpressApplication>(CoordinatorModule.forConfig(config, token), { logger: ['error', 'warn'] });
  const log = app.get(CoordinatorLogger);
  const dashboard = serveDashboard(app);
  app.useWebSocketAdapter(new SizedIoAdapter(app, config.maxFrameBytes));
  // A job over thousands of columns has a large spec; the default 100 kB body limit would refuse it.
  app.useBodyParser('json', { limit: '16mb' });
  app.enableShutdownHooks();
  await app.listen(config.port, config.host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const engine = app.get(RoundEngine);
  const store = app.get<Store>(STORE);
  const identity = app.get(CoordinatorIdentity);
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info(`coordinator listening on ${url}; key fingerprint ${identity.fingerprint}; data in ${config.dataDir}`);
  if (dashboard) log.info(`dashboard on ${url}/`);
  else log.warn('the dashboard is not built (npm run build): serving the API only');
  engine.resume();
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    adminToken: token,
    config,
    identity,
    engine,
    store,
    app,
    close: () =>
      (closing ??= (async () => {
        engine.shutdown();
        app.get(AgentConnections).disconnectAll();
        await app.close();
        store.close();
      })()),
  };
}
