/** Starts and stops a coordinator: the entry point of the CLI, the demo and the tests. */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';
import type { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { AttachmentBudget, boundedPacketCodec, ERROR_CODES } from '@fl/shared';
import { serveApiReference } from './admin/api-reference';
import { serveDashboard } from './admin/dashboard-files';
import { PathParamsPipe } from './validation';
import { ConfigSchema, readTls, trusts, type CoordinatorConfig, type CoordinatorConfigInput } from './config/config';
import { CoordinatorModule } from './app.module';
import { systemClock, type Clock } from './core/clock';
import { SocketAdmission } from './core/admission';
import { AuditVerifier } from './audit/audit-verifier';
import { CoordinatorIdentity } from './identity/identity';
import { CoordinatorLogger } from './logger';
import { Metrics } from './core/metrics';
import { AgentConnections } from './participants/connections';
import { socketRooms } from './cluster/socket-adapter';
import { SHARED_STATE, type SharedState } from './cluster/shared-state';
import { DataDirectoryLock } from './cluster/data-directory-lock';
import { LEADER_ELECTION, type LeaderElection } from './cluster/leader-election';
import { RoundEngine } from './rounds/round-engine';
import { STORE, type Store } from './storage/store';
import { describeStore } from './storage/open';
import { storeLocation } from './core/core.module';

/** How often a replica asks again for the leadership of the active jobs nobody runs: a leader that went away is replaced within it. */
const CONTEND_EVERY_MS = 5_000;

/** How long a REST request under way when the coordinator stops has to finish before its connection is cut. */
export const REQUEST_GRACE_MS = 10_000;

/**
 * Socket.IO with the frame limit set on purpose (the library's default is 1 MB),
 * the packet encoding that sends a small model with its header in one frame and
 * bounds unfinished packets (shared/src/codec/packets.ts), and what a connection
 * may cost before it authenticates (core/admission.ts). WebSocket only: every
 * client uses it, and long-polling would be one more way in to guard.
 */
class GuardedIoAdapter extends IoAdapter {
  constructor(
    app: INestApplication,
    private readonly config: CoordinatorConfig,
    private readonly admission: SocketAdmission,
    /** with replicas: rooms and broadcasts through Redis (cluster/socket-adapter.ts) */
    private readonly shareRooms: (server: Server) => void,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions) {
    const { maxFrameBytes, maxUnfinishedBytes } = this.config;
    const shared = new AttachmentBudget(maxUnfinishedBytes, (why) => this.admission.cutDecoding(why));
    const server = super.createIOServer(port, {
      ...options,
      transports: ['websocket'],
      maxHttpBufferSize: maxFrameBytes,
      parser: boundedPacketCodec({ perConnectionBytes: maxFrameBytes, shared }),
      allowRequest: this.admission.allowRequest,
    });
    this.admission.attach(server);
    this.shareRooms(server);
    return server;
  }
}

/** The served certificate, as the log and the CLI show it; undefined when serving plain HTTP. */
export interface TlsSummary {
  subject: string;
  subjectAltName: string | undefined;
  issuer: string;
  validTo: Date;
}

export interface RunningCoordinator {
  url: string;
  port: number;
  tls: TlsSummary | undefined;
  /** the configured admin token, if any */
  adminToken: string | undefined;
  config: CoordinatorConfig;
  identity: CoordinatorIdentity;
  engine: RoundEngine;
  store: Store;
  app: INestApplication;
  /** Socket.IO connections that have not authenticated yet */
  admission: SocketAdmission;
  /**
   * Stops: no new connection or request (503 COORDINATOR_RESTARTING, `why` its message), the open round closed
   * uncommitted, agents told `why`, then the sockets and the store closed. Called again, the same stop.
   */
  close(why?: string): Promise<void>;
  /**
   * Resolves, with who took it, when another coordinator took the data directory over: the coordinator is then
   * closing itself (close() gives that stop). Pending otherwise.
   */
  takenOver: Promise<string>;
}

function summarise(certificate: X509Certificate): TlsSummary {
  // Distinguished names come one attribute a line.
  const name = (dn: string) => dn.split('\n').join(', ');
  return {
    subject: name(certificate.subject),
    subjectAltName: certificate.subjectAltName,
    issuer: name(certificate.issuer),
    validTo: new Date(certificate.validTo),
  };
}

export function describeTls(tls: TlsSummary): string {
  const names = tls.subjectAltName ? ` for ${tls.subjectAltName}` : '';
  return `certificate ${tls.subject}${names}, issued by ${tls.issuer}, valid until ${tls.validTo.toISOString()}`;
}

/** `clock` times the coordinator's deadlines and expiries; tests pass one they move by hand. */
export async function startCoordinator(input: CoordinatorConfig | CoordinatorConfigInput, clock: Clock = systemClock): Promise<RunningCoordinator> {
  const config = ConfigSchema.parse(input);
  config.dataDir = path.resolve(config.dataDir);
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  // With TLS the one server is HTTPS, so Socket.IO, attached to it, is WSS on the same port.
  const tlsFiles = config.tlsCert && config.tlsKey ? readTls(config.tlsCert, config.tlsKey) : undefined;
  // Replicas share PostgreSQL, fenced by epochs; a SQLite store is one coordinator's, taken before anything opens it.
  const directory = config.databaseUrl ? undefined : DataDirectoryLock.take(config.dataDir);
  let app: NestExpressApplication;
  try {
    app = await NestFactory.create<NestExpressApplication>(CoordinatorModule.forConfig(config, clock), {
      // Nest's own messages go through the coordinator's log, escaped like every other line.
      logger: new CoordinatorLogger(config.logLevel, undefined, config.logFormat).forNest(),
      // Bodies are read after the guard let the request in (admin/body.interceptor.ts), never before.
      bodyParser: false,
      httpsOptions: tlsFiles && { cert: tlsFiles.cert, key: tlsFiles.key },
    });
  } catch (err) {
    directory?.release();
    throw err;
  }
  const log = app.get(CoordinatorLogger);
  // Once the stop began, no request reaches a handler (nor the store); one under way then closes its connection after its answer.
  let refusing: string | undefined;
  const underWay = new Set<Response>();
  app.use((_req: Request, res: Response, next: NextFunction) => {
    if (refusing !== undefined) {
      res.status(ERROR_CODES.COORDINATOR_RESTARTING.http).set('connection', 'close').json({ error: { code: 'COORDINATOR_RESTARTING', message: refusing } });
      return;
    }
    underWay.add(res);
    res.once('close', () => underWay.delete(res));
    next();
  });
  // Behind a trusted reverse proxy, req.ip (sign-ins, enrollments) is the client that X-Forwarded-For names.
  if (config.trustProxy !== undefined) app.set('trust proxy', trusts(config.trustProxy));
  app.useGlobalPipes(new PathParamsPipe());
  serveApiReference(app);
  const dashboard = serveDashboard(app);
  const admission = new SocketAdmission(
    {
      unauthenticatedBytes: config.maxUnauthenticatedBytes,
      handshakeTimeoutMs: config.handshakeTimeoutSeconds * 1000,
      pendingPerAddress: config.maxPendingConnectionsPerAddress,
      pending: config.maxPendingConnections,
    },
    clock,
    log,
  );
  const sharedState = app.get<SharedState>(SHARED_STATE);
  const rooms = socketRooms(sharedState, config.redisPrefix);
  app.useWebSocketAdapter(new GuardedIoAdapter(app, config, admission, rooms.attach));
  // No Nest signal hooks: the CLI handles SIGINT and SIGTERM with close() below, which tells the agents first
  // and exits 0 (Nest's hooks would close the app without that notice and re-raise the signal).
  // Longer than clients keep an idle connection (fetch: 4 s), so that the client, not the server, closes it:
  // with Node's 5 s, a request sent on a connection as the server closes it fails with ECONNRESET.
  const server = app.getHttpServer() as import('node:http').Server;
  app.get(Metrics).countTraffic(server);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await app.listen(config.port, config.host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  const engine = app.get(RoundEngine);
  const store = app.get<Store>(STORE);
  const identity = app.get(CoordinatorIdentity);
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `${tlsFiles ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info(`coordinator listening on ${url}; key fingerprint ${identity.fingerprint}; data in ${config.dataDir}; store ${describeStore(storeLocation(config))}`);
  const tls = tlsFiles && summarise(tlsFiles.certificate);
  if (tls) {
    log.info(`TLS on: ${describeTls(tls)}`);
    if (tls.validTo.getTime() < Date.now()) log.warn(`the TLS certificate expired on ${tls.validTo.toISOString()}: agents will refuse it`);
  } else log.info('TLS off: plain HTTP (use --tls-cert and --tls-key, or a reverse proxy that terminates TLS)');
  if (!config.adminToken && (await store.listUsers()).length === 0) {
    log.warn(`no admin yet: create one with fl-coordinator user add --data-dir ${config.dataDir} --name NAME --role admin`);
  }
  if (dashboard) log.info(`dashboard on ${url}/`);
  else log.warn('the dashboard is not built (npm run build): serving the API only');
  const election = app.get<LeaderElection>(LEADER_ELECTION);
  let contending: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const close = (why = 'the coordinator is shutting down; reconnect later') =>
    (closing ??= (async () => {
      refusing = why;
      // No new connection; idle ones close now, those with a request under way after its answer, or when the grace is over.
      server.close();
      for (const res of underWay) if (!res.headersSent) res.setHeader('connection', 'close');
      const cut = clock.setTimeout(() => server.closeAllConnections(), REQUEST_GRACE_MS);
      clearInterval(contending);
      await engine.shutdown();
      // Agents told, so that they reconnect (with backoff) to this coordinator once it is back, and the job resumes.
      app.get(AgentConnections).disconnectAll({ code: 'COORDINATOR_RESTARTING', message: why });
      await app.get(AuditVerifier).stop();
      await app.close();
      clock.clearTimeout(cut);
      await rooms.close();
      await sharedState.close();
      await election.close();
      await store.close();
      directory?.release();
    })());
  // Before the jobs start: a directory taken over while this one started runs none of them. Two processes writing one
  // SQLite store, and serving two views of it, is what the lock is for: this one stops whole, not only its jobs.
  const takenOver = new Promise<string>((resolve) =>
    directory?.onLost((by) => {
      log.error(`another coordinator took the data directory ${config.dataDir}: ${by}. This one stops: it serves and writes nothing more`);
      resolve(by);
      // Its failure is the caller's to report, through close().
      close('another coordinator took the data directory of this one').catch(() => undefined);
    }),
  );
  if (!closing) await engine.resume();
  if (election.kind !== 'in-process' && !closing) contending = setInterval(() => void engine.resume(), CONTEND_EVERY_MS).unref();
  return {
    url,
    port,
    tls,
    adminToken: config.adminToken,
    config,
    identity,
    engine,
    store,
    app,
    admission,
    close,
    takenOver,
  };
}
