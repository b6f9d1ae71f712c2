/**
 * The participant agent's connection to the coordinator: authenticate, pin and
 * check the coordinator's key, answer statistics requests and train requests.
 * Nothing but statistics, updates, evaluations and failure reports (codes and
 * counts), each signed, ever leaves it.
 */
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type { Agent as HttpAgent } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import {
  AGENT_NAMESPACE,
  canonicalJson,
  packetCodec,
  decodePublicKey,
  decodeWeights,
  DownlinkChunkedSchema,
  EvaluateMessageSchema,
  encodeKey,
  encodeWeights,
  fingerprint,
  inPieces,
  messageBytes,
  parameterCount,
  randomNonce,
  setupDigest,
  SetupMessageSchema,
  sha256Hex,
  signHeader,
  StatisticsRequestSchema,
  TrainMessageSchema,
  TransferAssembler,
  verifyHeader,
  WelcomeSchema,
  type Ack,
  type AgentToCoordinatorEvents,
  type CoordinatorToAgentEvents,
  PROTOCOL_VERSION,
  type ErrorBody,
  type ErrorCode,
  type JobSpec,
  type KeyPair,
  type SignatureDomain,
  type Binary,
  type SecAggReplyHeader,
  type EvaluateHeader,
  type EvaluateMessage,
  type EvaluationHeader,
  type FailureHeader,
  type SetupHeader,
  type SiteFailureCode,
  type StatisticsHeader,
  type TrainHeader,
  type TrainMessage,
  type UpdateHeader,
  SecAggRequestSchema,
  SecAggError,
  MESSAGE_CHARS,
  type SecAggStep,
} from '@fl/shared';
import { SecureParty } from './secure-party';
import {
  computeStatistics,
  secureRoundInput,
  DataError,
  describeSource,
  firstRows,
  formatReport,
  loadLocalData,
  prepare,
  prepareSplit,
  sourceVersion,
  tableLayout,
  type DataSource,
  type LocalTable,
  type Mapping,
  type PreparedData,
} from '../data';

/** The rows a participant trains on, and those it holds out to evaluate global models. */
interface LocalSplit {
  train: PreparedData;
  holdout: PreparedData | undefined;
}
import { evaluateLocal, trainLocal } from '../train';
import { networkErrorMessage } from './http';
import { UnmaskedWebSocket } from './transport';
import { AcceptedJobs } from './accepted-jobs';
import { appendJournal, JournalNotFlushed, readAcceptedJobs, readJobJournal, type JournalCharge, type JournalEntry, type JournalJob, type JournalLine, type SentRecord } from './journal';
import type { CoordinatorPins } from './pins';
import { checkPolicy, describeAccepted, totalsDecline, type Decline, type SitePolicy } from './policy';

export interface AgentOptions {
  coordinatorUrl: string;
  keys: KeyPair;
  /** a CSV or Parquet file, or a postgres:// URL with `query` */
  dataFile: string;
  query?: string;
  mapping?: Mapping;
  /** the coordinator's public key given out of band; else pinned at first contact */
  coordinatorKey?: string;
  pins?: CoordinatorPins;
  /** a JSON-lines file each message is appended to before it is sent, with its signature, then its ack: this site's evidence for `fl-agent audit verify` */
  journalFile?: string;
  /** PEM certificate(s) of a private CA to trust for an https:// coordinator; the certificate is always verified */
  ca?: string | Buffer;
  log?: (message: string) => void;
  /** the site's policy: jobs outside it are declined with a signed reason code */
  policy?: SitePolicy;
  /** carries the socket and the REST calls, e.g. an outbound proxy's (proxyAgent in client/proxy.ts) */
  agent?: HttpAgent;
  /** reconnection backoff, milliseconds: doubled after each failed attempt up to the maximum, with jitter */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
}

type AgentSocket = Socket<CoordinatorToAgentEvents, AgentToCoordinatorEvents>;

/** Why the agent stopped for good: the CLI's exit status follows from it. */
export type StopReason = 'stopped' | 'revoked' | 'refused-coordinator' | 'replaced';

const STATISTICS_ACK_TIMEOUT_MS = 60_000;
/** the largest request accepted in pieces before the coordinator's welcome says its own limit */
const DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
/** how long after the round's deadline an update's ack is still awaited */
const UPDATE_ACK_GRACE_MS = 30_000;
/** how long a stop by hand waits for the answer to a message already sent */
const STOP_GRACE_MS = 10_000;

/** A plain train request queued and not yet started; `overtakenBy` names the later request that showed its round over. */
interface WaitingTrain {
  job: string;
  round: number;
  overtakenBy?: string;
}

/**
 * Events: 'welcome' (participant), 'statistics' (job), 'trained' and 'evaluated' ({ job, round, ack }),
 * 'failed' ({ job, round, phase, step, code, ack }: step for a refused secure-aggregation step), 'job-finished', 'refused' (ErrorBody), 'stopped' (StopReason).
 */
export class ParticipantAgent extends EventEmitter {
  readonly socket: AgentSocket;
  participant: string | undefined;
  /** the coordinator's frame limit, from its signed welcome */
  private maxFrameBytes = Infinity;
  private maxMessageBytes = Infinity;
  /** the request being received in pieces; as large as the coordinator accepts from us, once it said so */
  private transfers = new TransferAssembler(DEFAULT_MAX_MESSAGE_BYTES, DownlinkChunkedSchema);
  private coordinatorKey: Uint8Array | undefined;
  private handshakeNonce = '';
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  /** the latest job setup received for each job not known to have finished (its requests name it by digest) */
  private readonly setups = new Map<string, { digest: string; header: SetupHeader }>();
  /** local data, read once for the jobs that type its columns alike and again when its file changes, and prepared once per setup of that table */
  private table: { key: string; table: LocalTable } | undefined;
  private prepared: { key: string; table: LocalTable; data: LocalSplit } | undefined;
  /**
   * Per job, the rows of the table its statistics were computed on: the coordinator holds each update to that count,
   * so a file that grows during the job is trained on as it was then (rows appended later join the next job).
   */
  private readonly rowsAtStart = new Map<string, number>();
  /** each spec's table layout as text (layoutOf) */
  private readonly layouts = new WeakMap<JobSpec, string>();
  /** jobs already checked against the site's policy: null when accepted, else why declined */
  private readonly decisions = new Map<string, ReturnType<typeof checkPolicy>>();
  /** what this site accepted of each job and has sent of it, which every later request of the job is held to */
  private readonly accepted = new AcceptedJobs(
    (job) => this.journalOf(job),
    () => this.journaledJobs(),
  );
  /** requests run one at a time, in the order received; one whose deadline is long past, or whose round is over, is skipped */
  private work: Promise<void> = Promise.resolve();
  /** messages sent whose answer has not come yet; a stop by hand waits for them */
  private sending = 0;
  /** told when the last answer awaited has come */
  private idle: (() => void) | undefined;
  /** the stop has disconnected and said so */
  private finished = false;
  /** plain train requests queued and not yet started: a later request of their job may show their round over */
  private readonly waiting = new Set<WaitingTrain>();
  private readonly log: (message: string) => void;
  /** secure aggregation: this site's secrets for the round in progress */
  private readonly secure: SecureParty;
  /** how the journal fails now, if it does: logged when it starts and when it ends, not at every message */
  private journalFailure: 'unwritable' | 'unflushed' | undefined;

  constructor(private readonly options: AgentOptions) {
    super();
    this.log = options.log ?? ((m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`));
    this.retryDelay = options.reconnectDelayMs ?? 500;
    this.secure = new SecureParty(
      () => this.participant!,
      options.keys.secretKey,
      (message) => this.log(message),
      (job, round) => this.accepted.sum(job, round),
    );
    if (options.coordinatorKey) this.coordinatorKey = this.parseKey(options.coordinatorKey);
    const url = new URL(AGENT_NAMESPACE, options.coordinatorUrl).toString();
    this.socket = io(url, {
      autoConnect: false,
      transports: [UnmaskedWebSocket],
      // The coordinator's packet encoding: a small model comes in one frame with its header.
      parser: packetCodec,
      // Handed by engine.io to the ws transport, which verifies the coordinator's certificate against it
      // (as text: engine.io's options are typed for PEM strings).
      ca: Buffer.isBuffer(options.ca) ? options.ca.toString('utf8') : options.ca,
      // Handed to the ws transport too (typed as a string for browsers; in Node an http.Agent): a proxy carries the socket as the REST calls.
      ...(options.agent && { agent: options.agent as unknown as string }),
      reconnectionDelay: options.reconnectDelayMs ?? 500,
      reconnectionDelayMax: options.reconnectDelayMaxMs ?? 10_000,
      randomizationFactor: 0.5,
      // A function, so that every attempt signs a fresh timestamp and nonce.
      auth: (cb) => cb(this.handshake()),
    });
    this.socket.on('connect_error', (err) => this.connectError(err as Error & { data?: ErrorBody }));
    this.socket.on('disconnect', (reason) => {
      this.log(`disconnected: ${reason}`);
      // socket.io retries every disconnect but the server's own; a coordinator shutting down is one: retry that too.
      if (reason === 'io server disconnect') this.retryLater();
    });
    this.socket.on('welcome', (m) => this.welcome(m));
    this.socket.on('statistics-request', (m) => this.enqueue(() => this.statistics(m)));
    // Kept at once, not queued: the requests that name it come after it and are queued.
    this.socket.on('setup', (m) => this.keepSetup(m));
    this.socket.on('train', (m) => this.request('train', m));
    this.socket.on('evaluate', (m) => this.request('evaluate', m));
    this.socket.on('secagg-request', (m) => this.enqueue(() => this.secureStep(m)));
    // A setup, train or evaluate request larger than a frame comes in acknowledged pieces, then `chunked` names it.
    this.socket.on('chunk', (piece, ack) => {
      const reply = this.transfers.receive(piece);
      if (!reply.ok) this.log(`refused a piece of a large request: ${reply.error.code} ${reply.error.message}`);
      ack(reply);
    });
    this.socket.on('chunked', (end) => {
      const done = this.transfers.complete(end);
      if ('refused' in done) return this.log(`ignored a large request: ${done.refused.ok ? '' : done.refused.error.message}`);
      const message = done.message;
      if (done.event === 'setup') return this.keepSetup(message);
      this.request(done.event, message);
    });
    this.socket.on('closing', (error) => {
      if (error.code === 'COORDINATOR_RESTARTING') return this.log('the coordinator is restarting: reconnecting with backoff');
      this.log(`the coordinator closes this connection: ${error.code} ${error.message}`);
      this.emit('refused', error);
      if (error.code === 'REVOKED') this.stop('revoked');
      // Another agent holds this key's connection now: two would take it from each other for ever.
      if (error.code === 'CONFLICT') this.stop('replaced');
    });
    this.socket.on('job-finished', (m) => {
      this.log(`job ${m.job} ${m.status} after ${m.rounds} rounds`);
      // After the requests queued before it: they may still name the setup.
      this.enqueue(async () => {
        this.setups.delete(m.job);
        this.rowsAtStart.delete(m.job);
      });
      this.emit('job-finished', m);
    });
  }

  /** Connects; resolves on the first welcome whose signature checks out. */
  start(): Promise<string> {
    const welcomed = new Promise<string>((resolve) => this.once('welcome', resolve));
    this.socket.connect();
    return welcomed;
  }

  /** Disconnects for good; `why` is told to 'stopped' listeners (the CLI's exit status). */
  stop(why: StopReason = 'stopped'): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const finish = () => {
      if (this.finished) return;
      this.finished = true;
      this.socket.disconnect();
      this.emit('stopped', why);
    };
    // Stopped by hand with a message on its way: its answer is waited for (a while), so that the journal says what left and how it was taken.
    if (why !== 'stopped' || this.sending === 0) return finish();
    this.log(`stopping: waiting up to ${STOP_GRACE_MS / 1000} s for the coordinator's answer to what was sent`);
    const grace = setTimeout(finish, STOP_GRACE_MS);
    // After the sender's own continuation, which journals the answer.
    this.idle = () =>
      setImmediate(() => {
        clearTimeout(grace);
        finish();
      });
  }

  /**
   * Connects again after a backoff that doubles up to its maximum, with jitter
   * so that many sites do not all come back at the same instant after a restart.
   */
  private retryLater(): void {
    if (this.stopped || this.socket.active) return;
    clearTimeout(this.retryTimer);
    const delay = this.retryDelay * (0.5 + Math.random());
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) this.socket.connect();
    }, delay);
    this.retryDelay = Math.min(this.retryDelay * 2, this.options.reconnectDelayMaxMs ?? 10_000);
  }

  private parseKey(text: string): Uint8Array {
    const key = decodePublicKey(text);
    if (!key) throw new Error('the coordinator key is not a base64 Ed25519 public key');
    return key;
  }

  private handshake() {
    this.handshakeNonce = randomNonce();
    const header = {
      type: 'handshake' as const,
      protocol: PROTOCOL_VERSION,
      publicKey: encodeKey(this.options.keys.publicKey),
      timestamp: Date.now(),
      nonce: this.handshakeNonce,
    };
    return { header, signature: signHeader('handshake', header, this.options.keys.secretKey) };
  }

  private connectError(err: Error & { data?: ErrorBody }): void {
    const reason = err.data ? `${err.data.code}: ${err.data.message}` : connectFailure(err);
    this.log(`cannot connect to ${this.options.coordinatorUrl}: ${reason}`);
    if (err.data) this.emit('refused', err.data);
    // Revoked is final; anything else (NOT_APPROVED: an admin has yet to decide) is worth retrying.
    if (err.data?.code === 'REVOKED') return this.stop('revoked');
    // Retrying cannot change the coordinator's version: final too.
    if (err.data?.code === 'UNSUPPORTED_PROTOCOL') return this.stop('refused-coordinator');
    // A coordinator older than version 2 knows no protocol field and refuses it as such.
    if (err.data?.code === 'INVALID_FRAME' && /protocol/.test(err.data.message)) {
      this.log(`the coordinator does not know the protocol field of the handshake: it is older than protocol version ${PROTOCOL_VERSION}; upgrade it`);
      return this.stop('refused-coordinator');
    }
    // A refused handshake is not retried by socket.io itself; retry with backoff, as for network errors.
    this.retryLater();
  }

  private welcome(message: unknown): void {
    const protocol = (message as { header?: { protocol?: unknown } } | null)?.header?.protocol;
    if (protocol !== PROTOCOL_VERSION) {
      return this.refuseCoordinator(`it speaks protocol version ${JSON.stringify(protocol ?? 1)}, this agent ${PROTOCOL_VERSION}: upgrade the older of the two`, 'UNSUPPORTED_PROTOCOL');
    }
    const parsed = WelcomeSchema.safeParse(message);
    if (!parsed.success) return this.refuseCoordinator('its welcome is malformed');
    const { header, signature } = parsed.data;
    const offered = decodePublicKey(header.coordinatorKey)!;
    if (header.handshakeNonce !== this.handshakeNonce || !verifyHeader('welcome', header, signature, offered)) {
      return this.refuseCoordinator('its welcome is not signed by the key it presents');
    }
    const origin = new URL(this.options.coordinatorUrl).origin;
    const pinned = this.coordinatorKey ? encodeKey(this.coordinatorKey) : this.options.pins?.get(origin);
    if (pinned && pinned !== header.coordinatorKey) {
      return this.refuseCoordinator(`it presents key ${fingerprint(offered)}, not the pinned ${fingerprint(this.parseKey(pinned))}`);
    }
    if (!pinned) {
      this.options.pins?.pin(origin, header.coordinatorKey);
      this.log(`pinned the coordinator key of ${origin}: fingerprint ${fingerprint(offered)} (compare it out of band)`);
    }
    this.coordinatorKey = offered;
    this.participant = header.participant;
    this.maxFrameBytes = header.maxFrameBytes;
    this.maxMessageBytes = header.maxMessageBytes;
    this.transfers = new TransferAssembler(header.maxMessageBytes, DownlinkChunkedSchema);
    this.retryDelay = this.options.reconnectDelayMs ?? 500;
    this.log(`connected to ${origin} as ${header.participant}`);
    this.emit('welcome', header.participant);
  }

  private refuseCoordinator(why: string, code: ErrorCode = 'BAD_SIGNATURE'): void {
    this.log(`refusing the coordinator: ${why}`);
    this.emit('refused', { code, message: why });
    this.stop('refused-coordinator');
  }

  /** Checks a coordinator instruction's signature against the pinned key. */
  private fromCoordinator(domain: SignatureDomain, header: unknown, signature: string): boolean {
    if (this.coordinatorKey && verifyHeader(domain, header, signature, this.coordinatorKey)) return true;
    this.log(`ignored a ${domain} message not signed by the pinned coordinator key`);
    return false;
  }

  private enqueue(task: () => Promise<void>): void {
    this.work = this.work.then(() => (this.stopped ? undefined : task())).catch((err: Error) => this.log(`error: ${err.message}`));
  }

  /**
   * Read again when the file changes, so that a corrected export is used without a restart. A query's result has no
   * version: it is run again for each job.
   */
  private async localTable(job: string, spec: JobSpec): Promise<LocalTable> {
    const source: DataSource = { location: this.options.dataFile, query: this.options.query };
    const version = sourceVersion(source);
    // The table's layout, not its job: jobs running at once over one file would otherwise read it again at each other's every request.
    const key = JSON.stringify([this.layoutOf(spec), version ?? null, version === undefined ? job : null]);
    if (this.table?.key !== key) {
      // Let go of the old table before reading the new one: a large table should not be held twice.
      this.table = undefined;
      this.prepared = undefined;
      const { table, report } = await loadLocalData(source, spec, this.options.mapping);
      // Reported here, at the site, by line and column: nothing about a row ever goes to the coordinator.
      if (report.problems.length) this.log(`data problems in ${describeSource(source)}:\n${formatReport(report)}`);
      this.table = { key, table };
    }
    return this.table.table;
  }

  /** A spec's table layout as text, made once per spec object: a job's setup keeps its spec, and every request would otherwise serialize it again. */
  private layoutOf(spec: JobSpec): string {
    let layout = this.layouts.get(spec);
    if (layout === undefined) {
      layout = canonicalJson(tableLayout(spec));
      this.layouts.set(spec, layout);
    }
    return layout;
  }

  private async statistics(message: unknown): Promise<void> {
    const parsed = StatisticsRequestSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed statistics request');
    const { header: request, signature } = parsed.data;
    if (!this.fromCoordinator('statistics-request', request, signature)) return;
    if (await this.refused(request.job, request.spec, 'statistics', 0, () => this.accepted.statistics(request.spec))) return;
    let statistics: StatisticsHeader['statistics'];
    let rows: number;
    try {
      // Asked again (the phase started again), the statistics are of the rows first counted: two of a grown file would give away the rows appended.
      const table = this.rowsOfJob(request.job, await this.localTable(request.job, request.spec));
      rows = table.n;
      statistics = computeStatistics(table, request.spec);
    } catch (err) {
      return this.reportFailure(request.job, 0, 'statistics', err, 'DATA_UNREADABLE');
    }
    const header: StatisticsHeader = {
      type: 'statistics',
      job: request.job,
      participant: this.participant!,
      nonce: randomNonce(),
      statistics,
    };
    const columns = [
      ...statistics.features.map((f) => ({ name: f.name, role: 'feature' as const, aggregates: aggregatesOf(f) })),
      ...(request.spec.target === undefined ? [] : [{ name: request.spec.target, role: 'target' as const, aggregates: aggregatesOf(statistics.target) }]),
    ];
    const ack = await this.sendJournaled(
      'statistics',
      { header, signature: signHeader('statistics', header, this.options.keys.secretKey) },
      STATISTICS_ACK_TIMEOUT_MS,
      [this.record({ kind: 'statistics', job: request.job, round: 0, rows: statistics.rows, tableRows: rows, columns })],
    );
    this.log(`job ${request.job}: statistics of ${statistics.rows} rows ${ack.ok ? 'accepted' : `refused: ${ack.error.code} ${ack.error.message}`}`);
    // Kept whatever the answer: a site is asked to train only once its statistics are in, and an ack that timed out may hide an acceptance.
    this.rowsAtStart.set(request.job, rows);
    this.emit('statistics', request.job, ack);
  }

  /** Queues a train or evaluate request, parsed once, noting when it came: how long it waits counts against its round's time. */
  private request(event: 'train' | 'evaluate', message: unknown): void {
    const received = Date.now();
    if (event === 'evaluate') {
      const parsed = EvaluateMessageSchema.safeParse(message);
      if (!parsed.success) return this.log('ignored a malformed evaluate request');
      this.overtake('evaluate', parsed.data);
      return this.enqueue(() => this.evaluate(parsed.data, received));
    }
    const parsed = TrainMessageSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed train request');
    this.overtake('train', parsed.data);
    const { header } = parsed.data;
    // Under secure aggregation a train request is a step of the round, which the secure party answers in turn: never set aside.
    const waiting: WaitingTrain | undefined = header.secagg ? undefined : { job: header.job, round: header.round };
    if (waiting) this.waiting.add(waiting);
    this.enqueue(async () => {
      if (waiting) {
        this.waiting.delete(waiting);
        if (waiting.overtakenBy) return this.log(`job ${waiting.job} round ${waiting.round}: the train request was still waiting here when ${waiting.overtakenBy} came; skipped`);
      }
      return this.train(parsed.data, received);
    });
  }

  /**
   * A request carries the global model of a round (a train request the previous round's), so that round's training
   * is over: plain train requests of the job up to it, still waiting here, would only be answered for a refusal. Only
   * a request whose setup, signature and model pass the checks it gets before work may set them aside: a frame that
   * is not the coordinator's must never cancel work.
   */
  private overtake(domain: 'train' | 'evaluate', { header, signature, weights }: { header: TrainHeader | EvaluateHeader; signature: string; weights: Binary }): void {
    const modelRound = domain === 'train' ? header.round - 1 : header.round;
    const moot = [...this.waiting].filter((w) => w.job === header.job && w.round <= modelRound && !w.overtakenBy);
    if (moot.length === 0) return;
    const kept = this.setups.get(header.job);
    if (kept?.digest !== header.setup || !this.coordinatorKey || !verifyHeader(domain, header, signature, this.coordinatorKey)) return;
    if (!modelOf(header, weights, kept.header)) return;
    for (const w of moot) w.overtakenBy = `the ${domain} request of round ${header.round}`;
  }

  private async train(message: TrainMessage, received: number): Promise<void> {
    const { header: request, signature } = message;
    const setup = this.setupOf(request);
    const global = setup && this.globalModel('train', request, signature, message.weights, setup);
    if (!setup || !global || this.expired(request, received)) return;
    if (await this.refused(request.job, setup.spec, 'train', request.round, () => this.accepted.train(request, setup.spec))) return;
    if (await this.overTotals(request.job, request.round, setup.spec, false)) return;
    const correction = this.correction(request, message.correction, global.length);
    if (correction === null) return;
    let split: LocalSplit;
    try {
      split = await this.preparedData(request.setup, setup);
    } catch (err) {
      return this.reportFailure(request.job, request.round, 'train', err, 'DATA_UNREADABLE');
    }
    const data = split.train;
    const started = Date.now();
    const { spec } = setup;
    const fewest = this.options.policy?.minBatchSize;
    if (fewest !== undefined && spec.model !== 'kmeans' && data.n > 0 && data.n < fewest) {
      // Every step would average fewer rows than the site allows: no batching can keep to it.
      this.log(`job ${request.job} round ${request.round}: declined under this site's policy: ${data.n} rows to train on, fewer than the least batch of ${fewest} [POLICY_TRAINING]`);
      // No count: a secure job's coordinator learns no site's rows.
      return this.sendFailure(request.job, request.round, 'train', 'POLICY_TRAINING', {});
    }
    let held: ReturnType<typeof heldOutMetrics>;
    let result: Awaited<ReturnType<typeof trainLocal>>;
    try {
      // The model received is the previous round's: evaluated before training changes it.
      held = request.evaluate ? heldOutMetrics(setup, global, split) : null;
      result = await trainLocal({
        shape: setup.model,
        params: global,
        x: data.x,
        y: data.y,
        n: data.n,
        epochs: spec.localEpochs,
        batchSize: spec.batchSize,
        learningRate: spec.learningRate,
        l2: spec.l2,
        seed: trainingSeed(spec.seed, request.round, this.participant!),
        // The strategy's per-round config, signed with the request: FedProx's μ, SCAFFOLD's correction.
        proximalMu: request.config?.proximalMu,
        correction,
        jobRows: setup.preprocessing.rows,
        minBatchSize: fewest,
        minClusterRows: this.options.policy?.minClusterRows,
      });
    } catch (err) {
      return this.reportFailure(request.job, request.round, 'train', err, 'TRAINING_FAILED');
    }
    // A diverged model can have an infinite loss; it is reported by leaving the metric out, not by a frame that cannot be signed.
    const metrics: Record<string, number> = {};
    if (Number.isFinite(result.loss)) metrics.trainLoss = result.loss;
    // Measured during the last epoch, as the loss is: a second pass over the rows would cost more than training.
    if (result.accuracy !== undefined && Number.isFinite(result.accuracy)) metrics.trainAccuracy = result.accuracy;
    if (request.secagg) return this.sendMasked(request, spec, global, result.params, data.n, started);
    if (await this.overTotals(request.job, request.round, spec, true)) return;
    const weights = encodeWeights(result.params);
    const header: UpdateHeader = {
      type: 'update',
      job: request.job,
      round: request.round,
      participant: this.participant!,
      nonce: randomNonce(),
      numSamples: data.n,
      metrics,
      weightsSha256: sha256Hex(weights),
      ...(held && { evaluation: { round: request.round - 1, ...held, modelSha256: request.weightsSha256 } }),
    };
    const updateSignature = signHeader('update', header, this.options.keys.secretKey);
    const evaluation =
      header.evaluation &&
      this.record({ kind: 'evaluation', job: request.job, round: request.round - 1, numExamples: header.evaluation.numExamples, metrics: Object.keys(header.evaluation.metrics), modelSha256: request.weightsSha256 });
    const ack = await this.sendJournaled(
      'update',
      { header, signature: updateSignature, weights },
      Math.max(request.deadline - Date.now(), 0) + UPDATE_ACK_GRACE_MS,
      [this.updateEntry(header, updateSignature, request, weights.byteLength), ...(evaluation ? [evaluation] : [])],
    );
    const took = ((Date.now() - started) / 1000).toFixed(2);
    const cells = this.options.policy?.minClusterRows;
    // Counts only: a log may leave the site, and which clusters were left out tells where its few rows lie.
    const suppressed = result.suppressed && cells !== undefined ? `${result.suppressed.clusters} of ${setup.model.outputDim} clusters suppressed under minClusterRows ${cells}, holding ${result.suppressed.rows} rows; ` : '';
    this.log(
      `job ${request.job} round ${request.round}: trained on ${data.n} rows in ${took}s, loss ${result.loss.toFixed(4)}; ${suppressed}` +
        (ack.ok ? 'update accepted' : `update refused: ${ack.error.code} ${ack.error.message}`),
    );
    this.emit('trained', { job: request.job, round: request.round, ack });
  }

  /** A secure-aggregation step (secure-party.ts): answered signed, or refused with a signed failure report. */
  private async secureStep(message: unknown): Promise<void> {
    const parsed = SecAggRequestSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed secure-aggregation request');
    const { header, signature } = parsed.data;
    if (!this.fromCoordinator('secagg-request', header, signature)) return;
    // Rounds −2 to 0 are the statistics phase: no setup yet; the job comes with the advertise request.
    const statisticsRound = header.round <= 0;
    const spec = statisticsRound
      ? (header.spec ?? this.secure.specOf(header.job, header.round))
      : this.setups.get(header.job)?.header.spec;
    if (!spec) return this.log(`job ${header.job} round ${header.round}: a secure-aggregation request for a job without a setup on this connection; ignored`);
    // A statistics-phase round is answered as the statistics request is: round 0.
    if (await this.refused(header.job, spec, statisticsRound ? 'statistics' : 'train', statisticsRound ? 0 : header.round, () => this.accepted.secureStep(header, spec))) return;
    // Refused before any key of a training round goes out, as the train request after it would be.
    if (!statisticsRound && header.step === 'advertise' && (await this.overTotals(header.job, header.round, spec, false))) return;
    let input: ReturnType<typeof secureRoundInput> | undefined;
    let tableRows: number | undefined;
    if (statisticsRound && header.step === 'advertise') {
      // Computed before any key goes out: a site that cannot report says so instead of joining the round.
      try {
        // The phase started again is computed over the rows first read, as training is: rows appended meanwhile join the next job.
        const table = this.rowsOfJob(header.job, await this.localTable(header.job, spec));
        input = secureRoundInput(table, spec, header.job, header.round, header.frequentBuckets);
        tableRows = table.n;
      } catch (err) {
        return this.reportFailure(header.job, 0, 'statistics', err, 'DATA_UNREADABLE');
      }
    }
    let reply;
    try {
      reply = await this.secure.answer(header, spec, input);
    } catch (err) {
      return this.refuseStep(header.job, header.round, header.step, err);
    }
    if (tableRows !== undefined) this.rowsAtStart.set(header.job, tableRows);
    const ack = await this.sendJournaled('secagg', { ...reply }, Math.max(header.deadline - Date.now(), 0) + UPDATE_ACK_GRACE_MS, [
      this.record({
        kind: 'secagg',
        job: header.job,
        round: header.round,
        step: header.step,
        discloses: disclosed(reply),
        ...sentInput(reply),
        ...(tableRows !== undefined && { tableRows }),
        ...(statisticsRound && header.step === 'unmask' && { survivors: header.survivors ?? [] }),
      }),
    ]);
    if (!ack.ok) this.log(`job ${header.job} round ${header.round}: the ${header.step} answer was refused: ${ack.error.code} ${ack.error.message}`);
    this.emit('secagg', { job: header.job, round: header.round, step: header.step, ack });
  }

  /** Under secure aggregation the trained model leaves only as a masked input. */
  private async sendMasked(request: TrainHeader, spec: JobSpec, global: Float32Array, local: Float32Array, numSamples: number, started: number): Promise<void> {
    // Before the input is masked: a refused one leaves the round's keys unused.
    if (await this.overTotals(request.job, request.round, spec, true)) return;
    let reply;
    try {
      reply = this.secure.masked(request, spec, global, local, numSamples);
    } catch (err) {
      return this.refuseStep(request.job, request.round, 'masked', err);
    }
    const ack = await this.sendJournaled('secagg', { ...reply }, Math.max(request.deadline - Date.now(), 0) + UPDATE_ACK_GRACE_MS, [
      this.record({
        kind: 'secagg',
        job: request.job,
        round: request.round,
        step: 'masked',
        discloses: disclosed(reply),
        ...sentInput(reply),
        auditHead: request.auditHead,
        modelSha256: request.weightsSha256,
        ...(request.config && { config: request.config }),
      }),
    ]);
    const took = ((Date.now() - started) / 1000).toFixed(2);
    this.log(`job ${request.job} round ${request.round}: trained on ${numSamples} rows in ${took}s; masked input ${ack.ok ? 'accepted' : `refused: ${ack.error.code} ${ack.error.message}`}`);
    this.emit('trained', { job: request.job, round: request.round, ack });
  }

  /**
   * SCAFFOLD's correction c − c_i as the train request's attachment, checked
   * against the SHA-256 its signed header names; undefined when it names none,
   * null (logged) when it does not match.
   */
  private correction(request: TrainHeader, attached: Binary | undefined, size: number): Float32Array | undefined | null {
    const named = request.config?.correctionSha256;
    if (named === undefined) return undefined;
    const correction = attached && decodeWeights(attached);
    if (!attached || !correction || sha256Hex(attached) !== named || correction.length !== size) {
      this.log(`job ${request.job} round ${request.round}: the correction does not match its signed train header; ignored`);
      return null;
    }
    return correction;
  }

  /**
   * An update's journal line: what audit verify needs to find it in a bundle (its digest, signature and the log head
   * it answered), and what it was trained from.
   */
  private updateEntry(header: UpdateHeader, signature: string, request: TrainHeader, bytes: number): Unsent<JournalEntry> {
    const { job, round, participant, numSamples, weightsSha256: sha256 } = header;
    const { auditHead, weightsSha256: modelSha256, config } = request;
    return { coordinator: this.origin(), job, round, participant, sha256, numSamples, signature, auditHead, bytes, modelSha256, ...(config && { config }) };
  }

  /** A journal line of a message other than an update: what it disclosed, for `fl-agent report`. */
  private record(entry: DistributiveOmit<SentRecord, 'coordinator' | 'participant' | 'at' | 'accepted' | 'nonce'>): Unsent<SentRecord> {
    return { ...entry, coordinator: this.origin(), participant: this.participant! } as Unsent<SentRecord>;
  }

  private origin(): string {
    return new URL(this.options.coordinatorUrl).origin;
  }

  /**
   * Journals a message's lines, then sends it, then journals the answer: a crash or a kill after the send leaves
   * the lines, which `audit verify` then reads as sent, answer unknown, instead of blaming another copy of the key.
   */
  private async sendJournaled(
    event: 'statistics' | 'update' | 'evaluation' | 'failure' | 'secagg',
    message: Record<string, unknown> & { header: { nonce: string } },
    timeoutMs: number,
    lines: Unsent<JournalEntry | SentRecord>[],
  ): Promise<Ack> {
    const { nonce } = message.header;
    const sentAt = Date.now();
    const stamped = lines.map((line) => ({ ...line, nonce, at: sentAt }) as JournalEntry | SentRecord);
    // Taken in before the journal is written: the job's lines are read from it once, and must not count twice.
    this.accepted.sent(stamped);
    const written = this.append(stamped, true);
    const ack = await this.send(event, message, timeoutMs);
    const at = Date.now();
    // Lines the journal could not take before the send are written whole after it, as a journal of an earlier release has them.
    this.append(written ? [{ kind: 'answer', nonce, accepted: ack.ok, at }] : lines.map((line) => ({ ...line, nonce, accepted: ack.ok, at })));
    return ack;
  }

  /** Appends to the journal; failing to write it is logged, never fatal to the round. True when written. */
  private append(lines: Parameters<typeof appendJournal>[1], durable = false): boolean {
    const file = this.options.journalFile;
    if (!file) return false;
    try {
      appendJournal(file, lines, { durable });
      // A line not asked to be flushed says nothing of whether flushing works again.
      if (durable || this.journalFailure === 'unwritable') this.journalFails(file, undefined);
      return true;
    } catch (err) {
      if (err instanceof JournalNotFlushed) {
        // The lines are in the file: written whole again after the send, they would journal the message twice.
        this.journalFails(file, 'unflushed', `cannot flush the journal ${file} to disk: ${err.message}; messages are journaled, but a power loss may take their lines`);
        return true;
      }
      this.journalFails(file, 'unwritable', `cannot append to the journal ${file}: ${(err as Error).message}; messages are still sent, but not journaled until it can be written again`);
      return false;
    }
  }

  /** Logs a change in how the journal fails: once when it starts failing, once when it works again. */
  private journalFails(file: string, failure: typeof this.journalFailure, message?: string): void {
    if (failure === this.journalFailure) return;
    const before = this.journalFailure;
    this.journalFailure = failure;
    if (message) this.log(message);
    else if (before === 'unwritable') this.log(`the journal ${file} can be written again: messages are journaled from now on (those sent meanwhile are not in it)`);
    else this.log(`the journal ${file} is flushed to disk again`);
  }

  /**
   * Checks a request against the site's policy (a job once, logging what was accepted), then against the job as this
   * site accepted it (accepted-jobs.ts), whose spec the first request within the policy journals. A request outside
   * either is answered with a signed failure report carrying the reason's code. True when refused.
   */
  private async refused(job: string, spec: JobSpec, phase: FailureHeader['phase'], round: number, request: () => Decline | null): Promise<boolean> {
    if (!this.decisions.has(job)) {
      // A job accepted before a restart is within the total: its own loss is in the journal's.
      const accepted = () => (this.accepted.spec(job) ? null : this.accepted.privacyLoss());
      const decision = this.options.policy ? checkPolicy(this.options.policy, spec, accepted) : null;
      this.decisions.set(job, decision);
      if (decision) this.log(`job ${job}: declined under this site's policy: ${decision.reason} [${decision.code}]`);
      else this.log(`job ${job}: accepted${this.options.policy ? " under this site's policy" : ''}: ${describeAccepted(spec)}`);
    }
    const decision = this.decisions.get(job);
    if (decision) {
      await this.sendFailure(job, round, phase, decision.code, decision.counts);
      return true;
    }
    if (!this.accepted.spec(job)) this.journalAccepted(job, spec);
    const refusal = this.accepted.changed(job, spec) ?? request();
    if (!refusal) return false;
    this.log(`job ${job}${round ? ` round ${round}` : ''}: refused: ${refusal.reason} [${refusal.code}]`);
    await this.sendFailure(job, round, phase, refusal.code, refusal.counts);
    return true;
  }

  /** Journals the job as this site accepted it, flushed before anything of the job is sent; a DP job is charged by a line of its own (overTotals). */
  private journalAccepted(job: string, spec: JobSpec): void {
    const line: JournalJob = { kind: 'job', coordinator: this.origin(), job, participant: this.participant!, spec, ...(spec.dp && { charged: false as const }), at: Date.now() };
    this.accepted.sent([line]);
    this.append(line, true);
  }

  /**
   * A DP job's ε counts against the site's totals from its first training input on, whichever coordinator asks: until
   * it is charged, each training request is checked against the jobs charged before it, and with `charge` (the input is
   * about to be sent) the charge is journaled, flushed, first. A job over a total is declined for the rest of it,
   * nothing sent but a signed failure report. True when refused.
   */
  private async overTotals(job: string, round: number, spec: JobSpec, charge: boolean): Promise<boolean> {
    if (!spec.dp) return false;
    const names = { coordinator: this.origin(), participant: this.participant!, job };
    const { policy } = this.options;
    const decision = policy ? totalsDecline(policy, spec, () => (this.accepted.uncharged(names) ? this.accepted.privacyLoss() : null)) : null;
    if (decision) {
      this.decisions.set(job, decision);
      this.log(`job ${job} round ${round}: declined under this site's policy: ${decision.reason} [${decision.code}]`);
      await this.sendFailure(job, round, 'train', decision.code, decision.counts);
      return true;
    }
    if (charge && this.uncharged(names)) {
      const line: JournalCharge = { kind: 'job-charged', ...names, at: Date.now() };
      this.accepted.sent([line]);
      this.append(line, true);
    }
    return false;
  }

  /** Whether the DP job still has its charge to journal; a journal that cannot be read has it journaled again, which counts once. */
  private uncharged(names: { coordinator: string; participant: string; job: string }): boolean {
    try {
      return this.accepted.uncharged(names);
    } catch {
      return true;
    }
  }

  /** A request this site cannot answer: the reason in full in its own log, its code and counts to the coordinator. */
  private async reportFailure(job: string, round: number, phase: FailureHeader['phase'], err: unknown, fallback: SiteFailureCode): Promise<void> {
    const code = err instanceof DataError ? err.code : fallback;
    const counts = err instanceof DataError ? err.counts : {};
    this.log(`job ${job}${round ? ` round ${round}` : ''}: cannot answer the ${phase} request [${code}]: ${(err as Error).message}`);
    await this.sendFailure(job, round, phase, code, counts);
  }

  /**
   * A secure-aggregation step this site refuses (or a masked input it cannot make): logged in full, and told to the
   * coordinator with the protocol's code and message, so the round goes on without this site at once rather than at the step's deadline.
   */
  private async refuseStep(job: string, round: number, step: SecAggStep, err: unknown): Promise<void> {
    // Every refusal of the secure party is a SecAggError; anything else is a fault of this agent, told by its code alone.
    const refusal = err instanceof SecAggError ? { code: err.code, message: err.message.slice(0, MESSAGE_CHARS) } : { code: 'SECAGG_PHASE' as const };
    this.log(`job ${job} round ${round}: refused the ${step} step: ${refusal.code} ${(err as Error).message}`);
    await this.sendFailure(job, round, 'secagg', refusal.code, {}, { step, ...(refusal.message && { message: refusal.message }) });
  }

  private async sendFailure(
    job: string,
    round: number,
    phase: FailureHeader['phase'],
    code: SiteFailureCode,
    counts: Record<string, number>,
    refused?: Pick<FailureHeader, 'step' | 'message'>,
  ): Promise<void> {
    const header: FailureHeader = { type: 'failure', job, round, phase, participant: this.participant!, nonce: randomNonce(), code, counts, ...refused };
    const ack = await this.sendJournaled('failure', { header, signature: signHeader('failure', header, this.options.keys.secretKey) }, STATISTICS_ACK_TIMEOUT_MS, [
      this.record({ kind: 'failure', job, round, phase, code, counts, ...refused }),
    ]);
    if (!ack.ok) this.log(`job ${job}: the failure report was refused: ${ack.error.code} ${ack.error.message}`);
    this.emit('failed', { job, round, phase, step: refused?.step, code, ack });
  }

  /** Keeps a job setup whose signature checks out, for the requests that will name it. */
  private keepSetup(message: unknown): void {
    const parsed = SetupMessageSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed job setup');
    const { header, signature } = parsed.data;
    if (!this.fromCoordinator('setup', header, signature)) return;
    // One per job, however many run at once: the coordinator sends each once per connection, so one dropped would silence its job here.
    this.setups.set(header.job, { digest: setupDigest(header), header });
  }

  /**
   * A request that waited here longer than its round had left when it was issued (behind slower work): its answer
   * would be refused, so it is not worked on. Measured on this machine's clock alone, whatever the coordinator's.
   */
  private expired(request: TrainHeader | EvaluateHeader, received: number): boolean {
    const waited = Date.now() - received;
    if (waited <= request.deadline - request.issuedAt + UPDATE_ACK_GRACE_MS) return false;
    this.log(`job ${request.job} round ${request.round}: the ${request.type} request waited ${(waited / 1000).toFixed(0)} s here, past its round's deadline; skipped`);
    return true;
  }

  /** The setup a request names; undefined (logged) when it never came. */
  private setupOf(request: TrainHeader | EvaluateHeader): SetupHeader | undefined {
    const kept = this.setups.get(request.job);
    if (kept?.digest === request.setup) return kept.header;
    this.log(`job ${request.job} round ${request.round}: the ${request.type} request names a job setup not received on this connection; ignored`);
    return undefined;
  }

  /** The model of a signed train or evaluate request, checked against its header; null (logged) when it does not match. */
  private globalModel(domain: 'train' | 'evaluate', request: TrainHeader | EvaluateHeader, signature: string, weights: Binary, setup: SetupHeader): Float32Array | null {
    if (!this.fromCoordinator(domain, request, signature)) return null;
    const global = modelOf(request, weights, setup);
    if (!global) this.log(`job ${request.job} round ${request.round}: the global model does not match its signed ${domain} header; ignored`);
    return global;
  }

  /**
   * The job's prepared data, split into training rows and the local holdout when
   * the job evaluates; prepared once per setup (its digest is the key).
   */
  private async preparedData(digest: string, setup: SetupHeader): Promise<LocalSplit> {
    const split = await this.preparedOnce(digest, setup);
    // Rows labelled outside the job's classes mean the site's data disagrees with the others': it sits out until it is corrected.
    const { unknownTargets } = split.train.report;
    if (unknownTargets > 0) {
      // A secure job's coordinator learns no count of a site's rows.
      const counts: Record<string, number> = setup.spec.secureAggregation ? {} : { rows: unknownTargets };
      throw new DataError('DATA_TARGET_UNKNOWN_CLASS', counts, `${unknownTargets} rows have a target value outside the job's classes`);
    }
    if (split.train.n === 0) throw new DataError('DATA_NO_ROWS', { rows: 0 }, 'no row can be trained on');
    return split;
  }

  private async preparedOnce(digest: string, setup: SetupHeader): Promise<LocalSplit> {
    const { spec, preprocessing } = setup;
    const whole = await this.localTable(setup.job, spec);
    if (this.prepared?.key !== digest || this.prepared.table !== whole) {
      this.prepared = undefined;
      const table = this.rowsOfJob(setup.job, whole);
      const split: LocalSplit =
        spec.evaluateEvery > 0
          ? prepareSplit(table, preprocessing, spec.evaluationFraction, trainingSeed(spec.seed, 0, this.participant!))
          : { train: prepare(table, preprocessing), holdout: undefined };
      const { droppedMissingTarget, unknownTargets, unknownCategories } = split.train.report;
      const unknown = Object.entries(unknownCategories).filter(([, n]) => n > 0);
      if (unknown.length) this.log(`job ${setup.job}: categories outside the job's vocabulary, encoded as unknown: ${unknown.map(([c, n]) => `${c} ${n}`).join(', ')}`);
      this.log(
        `job ${setup.job}: prepared ${split.train.n + (split.holdout?.n ?? 0)} rows x ${split.train.d} inputs (dropped ${droppedMissingTarget} without target, ` +
          `${unknownTargets} with an unknown target)${split.holdout ? `; ${split.holdout.n} held out for evaluation` : ''}`,
      );
      this.prepared = { key: digest, table: whole, data: split };
    }
    return this.prepared.data;
  }

  /** The rows of the table a job's statistics were computed on, once they were: rows appended since join the next job. */
  private rowsOfJob(job: string, whole: LocalTable): LocalTable {
    const rows = this.rowsAtStart.get(job) ?? this.journaledRows(job);
    if (rows === undefined || whole.n <= rows) return whole;
    this.log(`job ${job}: the data has ${whole.n - rows} rows more than when the job began: it uses the first ${rows}, the others join the next job`);
    return firstRows(whole, rows);
  }

  /**
   * rowsAtStart of a job, from the journal: an agent restarted during a job knows it no longer, and trained on a grown
   * file every update would exceed the rows the coordinator holds it to. The last statistics sent for the job count,
   * answered or not, as in memory; in a secure job, the last advertise of its statistics phase that names its rows.
   */
  private journaledRows(job: string): number | undefined {
    let rows: number | undefined;
    for (const line of this.journalOf(job)) {
      if (line.kind === 'statistics') rows = line.tableRows;
      else if (line.kind === 'secagg' && line.tableRows !== undefined) rows = line.tableRows;
    }
    if (rows !== undefined) this.rowsAtStart.set(job, rows);
    return rows;
  }

  /** The jobs the journal says this site accepted and charged, of every coordinator; none without a journal; throws when it cannot be read. */
  private journaledJobs(): (JournalJob | JournalCharge)[] {
    const file = this.options.journalFile;
    if (!file || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return [];
    try {
      return readAcceptedJobs(file);
    } catch (err) {
      throw new Error(`cannot read the journal ${file}: ${(err as Error).message}`);
    }
  }

  /** The journal's lines of a job of this coordinator and participant; none without a journal, or when it cannot be read (logged). */
  private journalOf(job: string): (JournalLine | JournalJob)[] {
    const file = this.options.journalFile;
    // Not a file (not there yet, or a directory in its place): nothing was journaled, and appending says why it cannot be.
    if (!file || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return [];
    try {
      return readJobJournal(file, { coordinator: this.origin(), participant: this.participant!, job });
    } catch (err) {
      this.log(`cannot read the journal ${file}: ${(err as Error).message}; job ${job} is held only to what this agent sends from now on`);
      return [];
    }
  }

  private async evaluate(message: EvaluateMessage, received: number): Promise<void> {
    const { header: request, signature } = message;
    const setup = this.setupOf(request);
    const global = setup && this.globalModel('evaluate', request, signature, message.weights, setup);
    if (!setup || !global || this.expired(request, received)) return;
    if (await this.refused(request.job, setup.spec, 'evaluate', request.round, () => this.accepted.evaluate(request, setup.spec))) return;
    let held: ReturnType<typeof heldOutMetrics>;
    try {
      held = heldOutMetrics(setup, global, await this.preparedData(request.setup, setup));
    } catch (err) {
      return this.reportFailure(request.job, request.round, 'evaluate', err, 'TRAINING_FAILED');
    }
    if (!held) return this.log(`job ${request.job}: no rows to evaluate on`);
    const { numExamples, metrics } = held;
    const header: EvaluationHeader = {
      type: 'evaluation',
      job: request.job,
      round: request.round,
      participant: this.participant!,
      nonce: randomNonce(),
      numExamples,
      metrics,
      modelSha256: request.weightsSha256,
    };
    const ack = await this.sendJournaled(
      'evaluation',
      { header, signature: signHeader('evaluation', header, this.options.keys.secretKey) },
      Math.max(request.deadline - Date.now(), 0) + UPDATE_ACK_GRACE_MS,
      [this.record({ kind: 'evaluation', job: request.job, round: request.round, numExamples, metrics: Object.keys(metrics), modelSha256: request.weightsSha256 })],
    );
    const shown = Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    this.log(`job ${request.job} round ${request.round}: evaluated on ${numExamples} held-out rows: ${shown}${ack.ok ? '' : `; refused: ${ack.error.code} ${ack.error.message}`}`);
    this.emit('evaluated', { job: request.job, round: request.round, ack });
  }

  /** Sends a signed message and waits for its ack; in pieces when it is larger than a frame. */
  private async send(event: 'statistics' | 'update' | 'evaluation' | 'failure' | 'secagg', message: Record<string, unknown>, timeoutMs: number): Promise<Ack> {
    this.sending++;
    try {
      return await this.sendWhole(event, message, timeoutMs);
    } finally {
      if (--this.sending === 0) this.idle?.();
    }
  }

  private async sendWhole(event: 'statistics' | 'update' | 'evaluation' | 'failure' | 'secagg', message: Record<string, unknown>, timeoutMs: number): Promise<Ack> {
    if (messageBytes(message) <= this.maxFrameBytes) return this.emitWithAck(event, message, timeoutMs);
    // Larger than a frame (Socket.IO would drop the connection without a word): send it in pieces,
    // each after the previous one is acknowledged, so memory and the socket's buffer stay bounded.
    const { totalBytes, pieces, end } = inPieces(message, event, this.maxFrameBytes, randomNonce());
    if (totalBytes > this.maxMessageBytes) {
      const error: ErrorBody = {
        code: 'FRAME_TOO_LARGE',
        message:
          `this ${event} is ${megabytes(totalBytes)} MB, over the coordinator's message limit of ` +
          `${megabytes(this.maxMessageBytes)} MB; not sent (the coordinator operator can raise --max-message-bytes)`,
      };
      this.log(error.message);
      this.emit('refused', error);
      return { ok: false, error };
    }
    for (const piece of pieces) {
      const ack = await this.emitWithAck('chunk', piece, timeoutMs);
      if (!ack.ok) return ack;
    }
    return this.emitWithAck('chunked', end, timeoutMs);
  }

  /** Sends and waits for the ack, with a timeout: an ack lost with a dropped connection would never come. */
  private emitWithAck(event: keyof AgentToCoordinatorEvents, message: unknown, timeoutMs: number): Promise<Ack> {
    return new Promise((resolve) => {
      const socket = this.socket.timeout(timeoutMs) as unknown as {
        emit(e: string, m: unknown, ack: (err: Error | null, a: Ack) => void): void;
      };
      socket.emit(event, message, (err, ack) =>
        resolve(err ? { ok: false, error: { code: 'TIMEOUT', message: `no answer to ${event} in ${timeoutMs} ms` } } : ack),
      );
    });
  }

}

/**
 * Why a connection failed, in plain words: socket.io reports a transport's failure
 * (an untrusted certificate, a refused connection) only as "websocket error", with
 * the cause inside the event it wraps.
 */
function connectFailure(err: Error & { description?: unknown }): string {
  // Told by shape, not instanceof: errors from Node's own modules can come from another realm (as under jest).
  const isError = (value: unknown): value is Error => typeof (value as Error | undefined)?.message === 'string';
  const event = err.description as { error?: unknown } | undefined;
  const cause = isError(event?.error) ? event.error : isError(event) ? event : undefined;
  return cause ? networkErrorMessage(cause) : err.message;
}

const megabytes = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A journal line as known before its message is sent: no answer, nonce nor time yet. */
type Unsent<T> = DistributiveOmit<T, 'accepted' | 'nonce' | 'at'>;

/** What a secure-aggregation answer carries, by kind and count: never a value. */
function disclosed({ header, masked }: { header: SecAggReplyHeader; masked?: Binary }): string[] {
  return [
    ...(header.advert ? ['two public keys (X25519)'] : []),
    ...(header.shares ? [`${header.shares.length} encrypted shares, one per other party`] : []),
    ...(header.seedShares ? [`${Object.keys(header.seedShares).length} shares of surviving parties' mask seeds`] : []),
    ...(header.keyShares ? [`${Object.keys(header.keyShares).length} shares of dropped parties' secret keys`] : []),
    ...(masked ? [`the masked input: ${masked.byteLength} bytes, SHA-256 ${header.maskedSha256}`] : []),
  ];
}

/** A masked input's SHA-256 and signature, which `audit verify` finds it by among a bundle's secagg.input records; nothing for another step. */
function sentInput({ header, signature, masked }: { header: SecAggReplyHeader; signature: string; masked?: Binary }): { sha256?: string; signature?: string } {
  return masked && header.maskedSha256 ? { sha256: header.maskedSha256, signature } : {};
}

/** The aggregates a column's statistics disclose, by name: never their values. */
function aggregatesOf(column: { type: string; counts?: [string, number][] }): string[] {
  if (column.counts) return [`counts of ${column.counts.length} categories`, ...('missing' in column ? ['missing'] : [])];
  return ['count', 'sum', 'sumSquares', 'missing'].filter((k) => k in column);
}

/** The global model a request carries, when its bytes are those its header names and fit the setup's model; else null. */
function modelOf(request: TrainHeader | EvaluateHeader, weights: Binary, setup: SetupHeader): Float32Array | null {
  const global = decodeWeights(weights);
  return global && sha256Hex(weights) === request.weightsSha256 && global.length === parameterCount(setup.model) ? global : null;
}

/** A global model's metrics on the held-out rows; null when the site has no row to evaluate on. */
function heldOutMetrics(setup: SetupHeader, global: Float32Array, split: LocalSplit): { numExamples: number; metrics: Record<string, number> } | null {
  // Without held-out rows (a one-row site) the training rows are all there is.
  const data = split.holdout && split.holdout.n > 0 ? split.holdout : split.train;
  if (data.n === 0) return null;
  const metrics: Record<string, number> = {};
  // A non-finite metric (a diverged model) is left out: it could not be signed.
  for (const [name, value] of Object.entries(evaluateLocal(setup.model, global, data.x, data.y, data.n))) if (Number.isFinite(value)) metrics[name] = value;
  return { numExamples: data.n, metrics };
}

/** A different, reproducible shuffling seed for each participant and round. */
export function trainingSeed(jobSeed: number, round: number, participant: string): number {
  let h = (jobSeed ^ Math.imul(round, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < participant.length; i++) h = Math.imul(h ^ participant.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
