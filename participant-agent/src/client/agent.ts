/**
 * The participant agent's connection to the coordinator: authenticate, pin and
 * check the coordinator's key, answer statistics requests and train requests.
 * Nothing but statistics, updates and their signed headers ever leaves it.
 */
import { EventEmitter } from 'node:events';
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
  type ErrorBody,
  type JobSpec,
  type KeyPair,
  type SignatureDomain,
  type Binary,
  type EvaluateHeader,
  type EvaluationHeader,
  type SetupHeader,
  type StatisticsHeader,
  type TrainHeader,
  type UpdateHeader,
} from '@fl/shared';
import { computeStatistics, formatReport, loadLocalData, prepare, splitHoldout, type LocalTable, type Mapping, type PreparedData } from '../data';

/** The rows a participant trains on, and those it holds out to evaluate global models. */
interface LocalSplit {
  train: PreparedData;
  holdout: PreparedData | undefined;
}
import { evaluateLocal, trainLocal } from '../train';
import { networkErrorMessage } from './http';
import { UnmaskedWebSocket } from './transport';
import { appendJournal } from './journal';
import type { CoordinatorPins } from './pins';

export interface AgentOptions {
  coordinatorUrl: string;
  keys: KeyPair;
  dataFile: string;
  mapping?: Mapping;
  /** the coordinator's public key given out of band; else pinned at first contact */
  coordinatorKey?: string;
  pins?: CoordinatorPins;
  /** a JSON-lines file each sent update is appended to, with its signature and ack: this site's evidence for `fl-agent audit verify` */
  journalFile?: string;
  /** PEM certificate(s) of a private CA to trust for an https:// coordinator; the certificate is always verified */
  ca?: string | Buffer;
  log?: (message: string) => void;
  /** reconnection backoff, milliseconds */
  reconnectDelayMs?: number;
  reconnectDelayMaxMs?: number;
}

type AgentSocket = Socket<CoordinatorToAgentEvents, AgentToCoordinatorEvents>;

const STATISTICS_ACK_TIMEOUT_MS = 60_000;
/** job setups kept for the requests that name them: the running job's, and a few before it */
const SETUPS_KEPT = 4;
/** the largest request accepted in pieces before the coordinator's welcome says its own limit */
const DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
/** how long after the round's deadline an update's ack is still awaited */
const UPDATE_ACK_GRACE_MS = 30_000;

/** Events: 'welcome' (participant), 'statistics' (job), 'trained' and 'evaluated' ({ job, round, ack }), 'job-finished', 'refused' (ErrorBody). */
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
  /** the job setups received, by digest: train and evaluate requests name theirs */
  private readonly setups = new Map<string, SetupHeader>();
  /** local data, read once per job spec and prepared once per setup */
  private table: { key: string; table: LocalTable } | undefined;
  private prepared: { key: string; data: LocalSplit } | undefined;
  /** train requests run one at a time; a newer one for the same job replaces a waiting one */
  private work: Promise<void> = Promise.resolve();
  private readonly log: (message: string) => void;

  constructor(private readonly options: AgentOptions) {
    super();
    this.log = options.log ?? ((m) => process.stderr.write(`${new Date().toISOString()} ${m}\n`));
    this.retryDelay = options.reconnectDelayMs ?? 500;
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
      reconnectionDelay: options.reconnectDelayMs ?? 500,
      reconnectionDelayMax: options.reconnectDelayMaxMs ?? 10_000,
      randomizationFactor: 0.5,
      // A function, so that every attempt signs a fresh timestamp and nonce.
      auth: (cb) => cb(this.handshake()),
    });
    this.socket.on('connect_error', (err) => this.connectError(err as Error & { data?: ErrorBody }));
    this.socket.on('disconnect', (reason) => this.log(`disconnected: ${reason}`));
    this.socket.on('welcome', (m) => this.welcome(m));
    this.socket.on('statistics-request', (m) => this.enqueue(() => this.statistics(m)));
    // Kept at once, not queued: the requests that name it come after it and are queued.
    this.socket.on('setup', (m) => this.keepSetup(m));
    this.socket.on('train', (m) => this.enqueue(() => this.train(m)));
    this.socket.on('evaluate', (m) => this.enqueue(() => this.evaluate(m)));
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
      this.enqueue(() => (done.event === 'train' ? this.train(message) : this.evaluate(message)));
    });
    this.socket.on('closing', (error) => {
      this.log(`the coordinator closes this connection: ${error.code} ${error.message}`);
      this.emit('refused', error);
      if (error.code === 'REVOKED') this.stop();
    });
    this.socket.on('job-finished', (m) => {
      this.log(`job ${m.job} ${m.status} after ${m.rounds} rounds`);
      this.emit('job-finished', m);
    });
  }

  /** Connects; resolves on the first welcome whose signature checks out. */
  start(): Promise<string> {
    const welcomed = new Promise<string>((resolve) => this.once('welcome', resolve));
    this.socket.connect();
    return welcomed;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect();
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
    if (err.data?.code === 'REVOKED') return this.stop();
    // A refused handshake is not retried by socket.io itself; retry with backoff, as for network errors.
    if (!this.socket.active && !this.stopped) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.socket.connect(), this.retryDelay);
      this.retryDelay = Math.min(this.retryDelay * 2, this.options.reconnectDelayMaxMs ?? 10_000);
    }
  }

  private welcome(message: unknown): void {
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

  private refuseCoordinator(why: string): void {
    this.log(`refusing the coordinator: ${why}`);
    this.emit('refused', { code: 'BAD_SIGNATURE', message: why });
    this.stop();
  }

  /** Checks a coordinator instruction's signature against the pinned key. */
  private fromCoordinator(domain: SignatureDomain, header: unknown, signature: string): boolean {
    if (this.coordinatorKey && verifyHeader(domain, header, signature, this.coordinatorKey)) return true;
    this.log(`ignored a ${domain} message not signed by the pinned coordinator key`);
    return false;
  }

  private enqueue(task: () => Promise<void>): void {
    this.work = this.work.then(task).catch((err: Error) => this.log(`error: ${err.message}`));
  }

  private localTable(spec: JobSpec): LocalTable {
    const key = canonicalJson({ features: spec.features, target: spec.target, model: spec.model });
    if (this.table?.key !== key) {
      const { table, report } = loadLocalData(this.options.dataFile, spec, this.options.mapping);
      // Reported here, at the site, by line and column: nothing about a row ever goes to the coordinator.
      if (report.problems.length) this.log(`data problems in ${this.options.dataFile}:\n${formatReport(report)}`);
      this.table = { key, table };
    }
    return this.table.table;
  }

  private async statistics(message: unknown): Promise<void> {
    const parsed = StatisticsRequestSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed statistics request');
    const { header: request, signature } = parsed.data;
    if (!this.fromCoordinator('statistics-request', request, signature)) return;
    const statistics = computeStatistics(this.localTable(request.spec), request.spec);
    const header: StatisticsHeader = {
      type: 'statistics',
      job: request.job,
      participant: this.participant!,
      nonce: randomNonce(),
      statistics,
    };
    const ack = await this.send(
      'statistics',
      { header, signature: signHeader('statistics', header, this.options.keys.secretKey) },
      STATISTICS_ACK_TIMEOUT_MS,
    );
    this.log(`job ${request.job}: statistics of ${statistics.rows} rows ${ack.ok ? 'accepted' : `refused: ${ack.error.code} ${ack.error.message}`}`);
    this.emit('statistics', request.job, ack);
  }

  private async train(message: unknown): Promise<void> {
    const parsed = TrainMessageSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed train request');
    const { header: request, signature } = parsed.data;
    const setup = this.setupOf(request);
    const global = setup && this.globalModel('train', request, signature, parsed.data.weights, setup);
    if (!setup || !global) return;
    const correction = this.correction(request, parsed.data.correction, global.length);
    if (correction === null) return;
    const split = this.preparedData(request.setup, setup);
    const data = split.train;
    const started = Date.now();
    // The model received is the previous round's global model: evaluated before training changes it.
    const held = request.evaluate ? await heldOutMetrics(setup, global, split) : null;
    const { spec } = setup;
    const result = await trainLocal({
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
    });
    // A diverged model can have an infinite loss; it is reported by leaving the metric out, not by a frame that cannot be signed.
    const metrics: Record<string, number> = {};
    if (Number.isFinite(result.loss)) metrics.trainLoss = result.loss;
    // Measured during the last epoch, as the loss is: a second pass over the rows would cost more than training.
    if (result.accuracy !== undefined && Number.isFinite(result.accuracy)) metrics.trainAccuracy = result.accuracy;
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
    const ack = await this.send('update', { header, signature: updateSignature, weights }, Math.max(request.deadline - Date.now(), 0) + UPDATE_ACK_GRACE_MS);
    this.journal(header, updateSignature, ack.ok, request.auditHead);
    const took = ((Date.now() - started) / 1000).toFixed(2);
    this.log(
      `job ${request.job} round ${request.round}: trained on ${data.n} rows in ${took}s, loss ${result.loss.toFixed(4)}; ` +
        (ack.ok ? 'update accepted' : `update refused: ${ack.error.code} ${ack.error.message}`),
    );
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

  /** Records a sent update in the journal; failing to write it is logged, never fatal to the round. */
  private journal(header: UpdateHeader, signature: string, accepted: boolean, auditHead: TrainHeader['auditHead']): void {
    const file = this.options.journalFile;
    if (!file) return;
    const { job, round, participant, numSamples, weightsSha256: sha256 } = header;
    const coordinator = new URL(this.options.coordinatorUrl).origin;
    try {
      appendJournal(file, { coordinator, job, round, participant, sha256, numSamples, signature, accepted, at: Date.now(), auditHead });
    } catch (err) {
      this.log(`cannot append to the journal ${file}: ${(err as Error).message}`);
    }
  }

  /** Keeps a job setup whose signature checks out, for the requests that will name it. */
  private keepSetup(message: unknown): void {
    const parsed = SetupMessageSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed job setup');
    const { header, signature } = parsed.data;
    if (!this.fromCoordinator('setup', header, signature)) return;
    const digest = setupDigest(header);
    this.setups.delete(digest);
    this.setups.set(digest, header);
    // Oldest first in a Map's order: the running job's setup stays.
    for (const old of this.setups.keys()) if (this.setups.size > SETUPS_KEPT) this.setups.delete(old);
  }

  /** The setup a request names; undefined (logged) when it never came. */
  private setupOf(request: TrainHeader | EvaluateHeader): SetupHeader | undefined {
    const setup = this.setups.get(request.setup);
    if (setup?.job === request.job) return setup;
    this.log(`job ${request.job} round ${request.round}: the ${request.type} request names a job setup not received on this connection; ignored`);
    return undefined;
  }

  /** The model of a signed train or evaluate request, checked against its header; null (logged) when it does not match. */
  private globalModel(domain: 'train' | 'evaluate', request: TrainHeader | EvaluateHeader, signature: string, weights: Binary, setup: SetupHeader): Float32Array | null {
    if (!this.fromCoordinator(domain, request, signature)) return null;
    const global = decodeWeights(weights);
    if (!global || sha256Hex(weights) !== request.weightsSha256 || global.length !== parameterCount(setup.model)) {
      this.log(`job ${request.job} round ${request.round}: the global model does not match its signed ${domain} header; ignored`);
      return null;
    }
    return global;
  }

  /**
   * The job's prepared data, split into training rows and the local holdout when
   * the job evaluates; prepared once per setup (its digest is the key).
   */
  private preparedData(digest: string, setup: SetupHeader): LocalSplit {
    if (this.prepared?.key !== digest) {
      const { spec, preprocessing } = setup;
      const data = prepare(this.localTable(spec), preprocessing);
      const { droppedMissingTarget, unknownTargets, unknownCategories } = data.report;
      const unknown = Object.entries(unknownCategories).filter(([, n]) => n > 0);
      if (unknown.length) this.log(`job ${setup.job}: categories outside the job's vocabulary, encoded as unknown: ${unknown.map(([c, n]) => `${c} ${n}`).join(', ')}`);
      const split =
        spec.evaluateEvery > 0
          ? splitHoldout(data, spec.evaluationFraction, trainingSeed(spec.seed, 0, this.participant!))
          : { train: data, holdout: undefined };
      this.log(
        `job ${setup.job}: prepared ${data.n} rows x ${data.d} inputs (dropped ${droppedMissingTarget} without target, ` +
          `${unknownTargets} with an unknown target)${split.holdout ? `; ${split.holdout.n} held out for evaluation` : ''}`,
      );
      this.prepared = { key: digest, data: split };
    }
    return this.prepared.data;
  }

  private async evaluate(message: unknown): Promise<void> {
    const parsed = EvaluateMessageSchema.safeParse(message);
    if (!parsed.success) return this.log('ignored a malformed evaluate request');
    const { header: request, signature } = parsed.data;
    const setup = this.setupOf(request);
    const global = setup && this.globalModel('evaluate', request, signature, parsed.data.weights, setup);
    if (!setup || !global) return;
    const held = await heldOutMetrics(setup, global, this.preparedData(request.setup, setup));
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
    const ack = await this.send(
      'evaluation',
      { header, signature: signHeader('evaluation', header, this.options.keys.secretKey) },
      Math.max(request.deadline - Date.now(), 0) + UPDATE_ACK_GRACE_MS,
    );
    const shown = Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ');
    this.log(`job ${request.job} round ${request.round}: evaluated on ${numExamples} held-out rows: ${shown}${ack.ok ? '' : `; refused: ${ack.error.code} ${ack.error.message}`}`);
    this.emit('evaluated', { job: request.job, round: request.round, ack });
  }

  /** Sends a signed message and waits for its ack; in pieces when it is larger than a frame. */
  private async send(event: 'statistics' | 'update' | 'evaluation', message: Record<string, unknown>, timeoutMs: number): Promise<Ack> {
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

/** A global model's metrics on the held-out rows; null when the site has no row to evaluate on. */
async function heldOutMetrics(
  setup: SetupHeader,
  global: Float32Array,
  split: LocalSplit,
): Promise<{ numExamples: number; metrics: Record<string, number> } | null> {
  // Without held-out rows (a one-row site) the training rows are all there is.
  const data = split.holdout && split.holdout.n > 0 ? split.holdout : split.train;
  if (data.n === 0) return null;
  const metrics: Record<string, number> = {};
  // A non-finite metric (a diverged model) is left out: it could not be signed.
  for (const [name, value] of Object.entries(await evaluateLocal(setup.model, global, data.x, data.y, data.n))) if (Number.isFinite(value)) metrics[name] = value;
  return { numExamples: data.n, metrics };
}

/** A different, reproducible shuffling seed for each participant and round. */
export function trainingSeed(jobSeed: number, round: number, participant: string): number {
  let h = (jobSeed ^ Math.imul(round, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < participant.length; i++) h = Math.imul(h ^ participant.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
