/**
 * Light participants for the benchmarks: several per process, each a Socket.IO
 * client speaking the agent protocol with the shared crypto and codec (signed
 * handshake, coordinator signatures and weight digests checked, signed acked
 * replies), whose "training" is the global model plus small noise. They stand
 * in for real agents where the work per round is trivial (d = 1,000,000 and
 * 10,000,000) or where real agents would not fit (500 participants). Under
 * secure aggregation they answer each step with the agent's own SecureParty:
 * the same keys, shares, masks and quantization as fl-agent.
 *
 * Started as `node light-agent.js CONFIG.json`; prints `ready` once every
 * participant is welcomed, and exits when its connections drop.
 */
import * as fs from 'node:fs';
import { io, type Socket } from 'socket.io-client';
import { SecureParty, UnmaskedWebSocket, type SecureReplyMessage } from '@fl/participant-agent';
import {
  AGENT_NAMESPACE,
  decodePublicKey,
  packetCodec,
  decodeWeights,
  encodeWeights,
  seededRandom,
  DownlinkChunkedSchema,
  encodeKey,
  encodeStatistics,
  statisticsEncoding,
  keyPairFromSecretKey,
  inPieces,
  PIECE_OVERHEAD_BYTES,
  PROTOCOL_VERSION,
  randomNonce,
  setupDigest,
  SetupMessageSchema,
  sha256Hex,
  signHeader,
  verifyHeader,
  EvaluateMessageSchema,
  SecAggRequestSchema,
  StatisticsRequestSchema,
  TrainMessageSchema,
  TransferAssembler,
  WelcomeSchema,
  type Ack,
  type Binary,
  type EvaluationHeader,
  type JobSpec,
  type KeyPair,
  type LocalStatistics,
  type SetupHeader,
  type SignatureDomain,
  type StatisticsHeader,
  type UpdateHeader,
} from '@fl/shared';

export interface LightAgentConfig {
  url: string;
  /** the coordinator's public key, pinned */
  coordinatorKey: string;
  /** base64 secret keys, one per participant this process runs */
  secretKeys: string[];
  /** rows each participant reports and trains on */
  rows: number;
  /** classes of a softmax target: the model has (features + 1) x classes weights */
  classes: number;
  /** handshakes under way at once, the next one once one is welcomed (default: all at once) */
  connectAtOnce?: number;
  /**
   * A dishonest participant instead: once welcomed, it sends `messages` validly
   * signed statistics of `features` long-named features for `job`, one after
   * another's ack, and prints `flooded CODE` for each.
   */
  flood?: { job: string; features: number; messages: number };
}

/** The target classes the light participants report: c0000, c0001, ... (two but for softmax). */
export function syntheticClasses(model: JobSpec['model'], classes: number): string[] {
  return Array.from({ length: model === 'softmax' ? classes : 2 }, (_, i) => `c${String(i).padStart(4, '0')}`);
}

/** Statistics of `rows` standardized rows (mean 0, variance 1) for the job's columns, with the classes of syntheticClasses. */
export function syntheticStatistics(spec: JobSpec, rows: number, classes: number): LocalStatistics {
  const features = spec.features.map((f) =>
    f.type === 'numeric'
      ? { name: f.name, type: 'numeric' as const, count: rows, sum: 0, sumSquares: rows, missing: 0 }
      : { name: f.name, type: 'categorical' as const, counts: [['a', rows] as [string, number]], missing: 0 },
  );
  if (spec.model === 'linear') return { rows, features, target: { type: 'numeric', count: rows, sum: 0, sumSquares: rows } };
  const names = syntheticClasses(spec.model, classes);
  const counts = names.map((name, i) => [name, Math.floor(rows / names.length) + (i < rows % names.length ? 1 : 0)] as [string, number]);
  return { rows, features, target: { type: 'categorical', counts } };
}

/**
 * The "training": the global model plus uniform noise of ±0.0005, drawn once
 * per participant and model size, for a fresh update of the right shape at the
 * cost of one addition per weight, so that the agents' side of a round stays
 * trivial. The update is rewritten in place every round: the next request
 * comes only once the round the last update went to has closed, so it was sent.
 */
class NoisyUpdates {
  private noise = new Float32Array(0);
  private update = new Float32Array(0);

  constructor(private readonly seed: number) {}

  next(global: Float32Array): Float32Array {
    if (this.noise.length !== global.length) {
      const random = seededRandom(this.seed);
      this.noise = Float32Array.from({ length: global.length }, () => (random() - 0.5) * 1e-3);
      this.update = new Float32Array(global.length);
    }
    const { noise, update } = this;
    for (let i = 0; i < update.length; i++) update[i] = global[i] + noise[i];
    return update;
  }
}

class LightParticipant {
  private readonly socket: Socket;
  private participant = '';
  /** the coordinator's frame limit, from its signed welcome: larger messages go in pieces */
  private maxFrameBytes = Infinity;
  private handshakeNonce = '';
  private readonly updates: NoisyUpdates;
  /** the job setups received, by digest: requests name theirs */
  private readonly setups = new Map<string, SetupHeader>();
  private readonly secure: SecureParty;

  constructor(
    private readonly config: LightAgentConfig,
    private readonly keys: KeyPair,
    private readonly coordinatorKey: Uint8Array,
    index: number,
    onWelcome: () => void,
  ) {
    this.updates = new NoisyUpdates(index + 1);
    this.secure = new SecureParty(() => this.participant, keys.secretKey);
    this.socket = io(new URL(AGENT_NAMESPACE, config.url).toString(), {
      transports: [UnmaskedWebSocket],
      parser: packetCodec,
      reconnection: false,
      forceNew: true,
      auth: (cb) => cb(this.handshake()),
    });
    this.socket.on('welcome', (m: unknown) => {
      const parsed = WelcomeSchema.safeParse(m);
      if (!parsed.success || parsed.data.header.handshakeNonce !== this.handshakeNonce) fail('a malformed welcome');
      this.verified('welcome', parsed.data.header, parsed.data.signature);
      this.participant = parsed.data.header.participant;
      this.maxFrameBytes = parsed.data.header.maxFrameBytes;
      onWelcome();
      if (config.flood) void this.flood(config.flood);
    });
    this.socket.on('statistics-request', (m: unknown) => void this.statistics(m));
    this.socket.on('setup', (m: unknown) => this.setup(m));
    this.socket.on('train', (m: unknown) => void this.train(m));
    this.socket.on('evaluate', (m: unknown) => void this.evaluate(m));
    this.socket.on('secagg-request', (m: unknown) => void this.secureStep(m));
    // Requests larger than a frame come in pieces, as for the agent.
    const transfers = new TransferAssembler(Number.MAX_SAFE_INTEGER, DownlinkChunkedSchema);
    this.socket.on('chunk', (piece: unknown, ack: (reply: Ack) => void) => ack(transfers.receive(piece)));
    this.socket.on('chunked', (end: unknown) => {
      const done = transfers.complete(end);
      if ('refused' in done) return fail(`a large request was malformed: ${JSON.stringify(done.refused)}`);
      if (done.event === 'setup') return this.setup(done.message);
      void (done.event === 'train' ? this.train(done.message) : this.evaluate(done.message));
    });
    this.socket.on('connect_error', (err) => fail(`connect_error: ${err.message}`));
    this.socket.on('closing', (why: unknown) => process.stderr.write(`light agent: the coordinator closes the connection: ${JSON.stringify(why)}\n`));
    this.socket.on('disconnect', (reason) => {
      process.stderr.write(`light agent: disconnected (${reason})\n`);
      process.exit(0);
    });
  }

  private handshake() {
    this.handshakeNonce = randomNonce();
    const header = { type: 'handshake' as const, protocol: PROTOCOL_VERSION, publicKey: encodeKey(this.keys.publicKey), timestamp: Date.now(), nonce: this.handshakeNonce };
    return { header, signature: signHeader('handshake', header, this.keys.secretKey) };
  }

  private verified(domain: SignatureDomain, header: unknown, signature: string): void {
    if (!verifyHeader(domain, header, signature, this.coordinatorKey)) fail(`a ${domain} message not signed by the pinned key`);
  }

  private async reply(event: 'statistics' | 'update' | 'evaluation' | 'secagg', message: Record<string, unknown>): Promise<void> {
    const weights = (message.weights ?? message.masked) as Uint8Array | undefined;
    if (!weights || weights.byteLength + PIECE_OVERHEAD_BYTES <= this.maxFrameBytes) return this.acked(event, message);
    // Over the frame limit: the protocol's pieces (codec/envelope.ts), each sent once the previous is acknowledged.
    const { pieces, end } = inPieces(message, event, this.maxFrameBytes, randomNonce());
    for (const piece of pieces) await this.acked('chunk', piece);
    await this.acked('chunked', end);
  }

  private async acked(event: string, message: unknown): Promise<void> {
    const ack = (await this.socket.timeout(120_000).emitWithAck(event, message)) as Ack;
    if (!ack.ok) fail(`${event} refused: ${ack.error.code} ${ack.error.message}`);
  }

  private async statistics(m: unknown): Promise<void> {
    const { header: request, signature } = StatisticsRequestSchema.parse(m);
    this.verified('statistics-request', request, signature);
    const header: StatisticsHeader = {
      type: 'statistics',
      job: request.job,
      participant: this.participant,
      nonce: randomNonce(),
      statistics: syntheticStatistics(request.spec, this.config.rows, this.config.classes),
    };
    await this.reply('statistics', { header, signature: signHeader('statistics', header, this.keys.secretKey) });
  }

  private async flood({ job, features, messages }: NonNullable<LightAgentConfig['flood']>): Promise<void> {
    const junk = Array.from({ length: features }, (_, i) => ({ name: `f${i}_`.padEnd(200, 'x'), type: 'numeric' as const, count: 100, sum: i, sumSquares: i * i, missing: 0 }));
    for (let i = 0; i < messages; i++) {
      const header: StatisticsHeader = { type: 'statistics', job, participant: this.participant, nonce: randomNonce(), statistics: { rows: 100, features: junk, target: { type: 'none' } } };
      const ack = (await this.socket.timeout(120_000).emitWithAck('statistics', { header, signature: signHeader('statistics', header, this.keys.secretKey) })) as Ack;
      process.stdout.write(`flooded ${ack.ok ? 'ok' : ack.error.code}\n`);
    }
    this.socket.disconnect();
  }

  private setup(m: unknown): void {
    const { header, signature } = SetupMessageSchema.parse(m);
    this.verified('setup', header, signature);
    this.setups.set(setupDigest(header), header);
  }

  /** The model a request carries, checked against its signed digest. */
  private globalModel(request: { weightsSha256: string }, weights: Binary): Float32Array {
    const global = decodeWeights(weights);
    if (!global || sha256Hex(weights) !== request.weightsSha256) fail('the global model does not match its signed digest');
    return global;
  }

  private async train(m: unknown): Promise<void> {
    const { header: request, signature, weights: carried } = TrainMessageSchema.parse(m);
    this.verified('train', request, signature);
    const setup = this.setups.get(request.setup) ?? fail('a train request names a job setup not received');
    const global = this.globalModel(request, carried);
    if (request.secagg) {
      // The masked input replaces the update: the global model is needed beside it, to mask the difference.
      const masked: SecureReplyMessage = this.secure.masked(request, setup.spec, global, this.updates.next(global), this.config.rows);
      return this.reply('secagg', { ...masked });
    }
    const weights = encodeWeights(this.updates.next(global));
    const header: UpdateHeader = {
      type: 'update',
      job: request.job,
      round: request.round,
      participant: this.participant,
      nonce: randomNonce(),
      numSamples: this.config.rows,
      metrics: { trainLoss: 0.5 },
      weightsSha256: sha256Hex(weights),
    };
    const message = { header, signature: signHeader('update', header, this.keys.secretKey), weights };
    await this.reply('update', message);
  }

  /**
   * A secure-aggregation step, answered by the agent's own code. Round 0 is a
   * secure job's statistics phase: its job comes with the advertise request,
   * and the vector masked is that of the synthetic statistics.
   */
  private async secureStep(m: unknown): Promise<void> {
    const { header, signature } = SecAggRequestSchema.parse(m);
    this.verified('secagg-request', header, signature);
    if (header.round <= 0) {
      const spec = header.spec ?? this.secure.specOf(header.job, header.round) ?? fail('a statistics-phase request for a job never advertised');
      // Rounds −2 and −1 gather vocabularies, which the benchmark's jobs declare instead.
      if (header.round < 0) fail(`round ${header.round} gathers a vocabulary; the light participants hold none`);
      const vector =
        header.step === 'advertise'
          ? { vector: encodeStatistics(syntheticStatistics(spec, this.config.rows, this.config.classes), spec), width: statisticsEncoding(spec).width }
          : undefined;
      return this.reply('secagg', { ...(await this.secure.answer(header, spec, vector)) });
    }
    const setup = [...this.setups.values()].reverse().find((s) => s.job === header.job) ?? fail('a secure-aggregation request for a job without a setup');
    await this.reply('secagg', { ...(await this.secure.answer(header, setup.spec)) });
  }

  private async evaluate(m: unknown): Promise<void> {
    const { header: request, signature, weights } = EvaluateMessageSchema.parse(m);
    this.verified('evaluate', request, signature);
    if (!this.setups.has(request.setup)) fail('an evaluate request names a job setup not received');
    this.globalModel(request, weights);
    const header: EvaluationHeader = {
      type: 'evaluation',
      job: request.job,
      round: request.round,
      participant: this.participant,
      nonce: randomNonce(),
      numExamples: this.config.rows,
      metrics: { loss: 0.5 },
      modelSha256: request.weightsSha256,
    };
    await this.reply('evaluation', { header, signature: signHeader('evaluation', header, this.keys.secretKey) });
  }
}

function fail(why: string): never {
  process.stderr.write(`light agent: ${why}\n`);
  process.exit(1);
}

function main(configFile: string): void {
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as LightAgentConfig;
  const coordinatorKey = decodePublicKey(config.coordinatorKey);
  if (!coordinatorKey) fail('the coordinator key is not a base64 Ed25519 public key');
  let waiting = config.secretKeys.length;
  let next = 0;
  const connectNext = () => {
    const i = next++;
    if (i >= config.secretKeys.length) return;
    const keys = keyPairFromSecretKey(new Uint8Array(Buffer.from(config.secretKeys[i], 'base64')));
    new LightParticipant(config, keys, coordinatorKey!, i, () => {
      if (--waiting === 0) process.stdout.write('ready\n');
      connectNext();
    });
  };
  for (let n = 0; n < (config.connectAtOnce ?? config.secretKeys.length); n++) connectNext();
}

if (require.main === module) main(process.argv[2]);
