/**
 * Light participants for the benchmarks: several per process, each a Socket.IO
 * client speaking the agent protocol with the shared crypto and codec (signed
 * handshake, coordinator signatures and weight digests checked, signed acked
 * replies), whose "training" is the global model plus small noise. They stand
 * in for real agents where the work per round is trivial (d = 1,000,000 and
 * 10,000,000) or where real agents would not fit (500 participants).
 *
 * Started as `node light-agent.js CONFIG.json`; prints `ready` once every
 * participant is welcomed, and exits when its connections drop.
 *
 * With FL_BENCH_TIMELINE=FILE in its environment, each participant notes when
 * it had a train request whole, sent its update and had the update's ack, and
 * the process appends those times to FILE as it exits (timeline.ts reads them):
 * where a round's time goes between the processes, which no profile shows.
 */
import * as fs from 'node:fs';
import { io, type Socket } from 'socket.io-client';
import { UnmaskedWebSocket } from '@fl/participant-agent';
import {
  AGENT_ACCEPTS,
  AGENT_NAMESPACE,
  decodePublicKey,
  packetCodec,
  decodeWeights,
  DownlinkChunkedSchema,
  encodeKey,
  encodeWeights,
  toBytes,
  keyPairFromSecretKey,
  inPieces,
  PIECE_OVERHEAD_BYTES,
  randomNonce,
  seededRandom,
  setupDigest,
  SetupMessageSchema,
  sha256Hex,
  signHeader,
  verifyHeader,
  EvaluateMessageSchema,
  ModelAheadSchema,
  StatisticsRequestSchema,
  TrainMessageSchema,
  TransferAssembler,
  tuneHeapForModels,
  WelcomeSchema,
  type Ack,
  type EvaluationHeader,
  type JobSpec,
  type KeyPair,
  type LocalStatistics,
  type SignatureDomain,
  type StatisticsHeader,
  type UpdateHeader,
} from '@fl/shared';

/** One participant's round, in milliseconds since the epoch (sub-millisecond, comparable across processes). */
export interface TimelineEntry {
  job: string;
  round: number;
  /** when the coordinator issued the train request (its header's issuedAt, whole milliseconds) */
  issuedAt: number;
  received: number;
  sent: number;
  acked: number;
}

/** where the rounds' times go, if anywhere */
const TIMELINE_FILE = process.env.FL_BENCH_TIMELINE;
const timeline: TimelineEntry[] = [];
const now = () => performance.timeOrigin + performance.now();

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
}

/** Statistics of `rows` standardized rows for the job's columns; the target classes are c0000, c0001, ... */
export function syntheticStatistics(spec: JobSpec, rows: number, classes: number): LocalStatistics {
  const features = spec.features.map((f) =>
    f.type === 'numeric'
      ? { name: f.name, type: 'numeric' as const, count: rows, sum: 0, sumSquares: rows, missing: 0 }
      : { name: f.name, type: 'categorical' as const, counts: [['a', rows] as [string, number]], missing: 0 },
  );
  if (spec.model === 'linear') return { rows, features, target: { type: 'numeric', count: rows, sum: 0, sumSquares: rows } };
  const names = Array.from({ length: spec.model === 'softmax' ? classes : 2 }, (_, i) => `c${String(i).padStart(4, '0')}`);
  const counts = names.map((name, i) => [name, Math.floor(rows / names.length) + (i < rows % names.length ? 1 : 0)] as [string, number]);
  return { rows, features, target: { type: 'categorical', counts } };
}

/**
 * add(dst, a, b, bytes): dst = a + b over `bytes` bytes of float32 (a multiple
 * of 16), four weights an instruction (f32x4.add), in a module's memory. One
 * function, so written out byte by byte (WebAssembly core spec 2.0). The sums
 * are the same float32 values as a JavaScript loop's; with the copy of the
 * global model in, 1,000,000 weights take ~0.3 ms instead of ~2.7 (JavaScript
 * adds float32 through float64 one at a time). Flower's clients add their noise
 * with numpy, on vector lanes too.
 */
const ADD_MODULE = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // magic, version 1
  ...[0x01, 0x08, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x00], // types: (i32 i32 i32 i32) -> ()
  ...[0x03, 0x02, 0x01, 0x00], // functions: one, of type 0
  ...[0x05, 0x03, 0x01, 0x00, 0x01], // memory: one, 1 page to start with
  ...[0x07, 0x10, 0x02, 0x06, ...Buffer.from('memory'), 0x02, 0x00, 0x03, ...Buffer.from('add'), 0x00, 0x00], // exports
  ...[0x0a, 0x3a, 0x01, 0x38, 0x01, 0x01, 0x7f], // code: one body of 56 bytes; local 4 (i) is an i32
  ...[0x02, 0x40, 0x03, 0x40], // block, loop
  ...[0x20, 0x04, 0x20, 0x03, 0x4f, 0x0d, 0x01], // if i >= bytes: leave the block
  ...[0x20, 0x00, 0x20, 0x04, 0x6a], // dst + i
  ...[0x20, 0x01, 0x20, 0x04, 0x6a, 0xfd, 0x00, 0x04, 0x00], // v128.load a + i
  ...[0x20, 0x02, 0x20, 0x04, 0x6a, 0xfd, 0x00, 0x04, 0x00], // v128.load b + i
  ...[0xfd, 0xe4, 0x01, 0xfd, 0x0b, 0x04, 0x00], // f32x4.add, v128.store
  ...[0x20, 0x04, 0x41, 0x10, 0x6a, 0x21, 0x04], // i += 16
  ...[0x0c, 0x00, 0x0b, 0x0b, 0x0b], // next; end loop, block, function
]);

/** The part of the WebAssembly API used here: the project compiles without the DOM library that declares it. */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

interface AddExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  add(dst: number, a: number, b: number, bytes: number): void;
}

/**
 * The "training": the global model plus uniform noise of ±0.0005, drawn once
 * per participant and model size, for a fresh update of the right shape at the
 * cost of one addition per weight, so that the agents' side of a round stays
 * trivial. Noise, global model and update live in the module's memory, each
 * 16-byte aligned; the update is rewritten every round (the next request comes
 * only once the round this one went to has closed, so it has been sent), and a
 * fresh 4 MB array a round would be garbage for the agent's collector.
 */
class NoisyUpdates {
  private readonly wasm = new WebAssembly.Instance(new WebAssembly.Module(ADD_MODULE)).exports as AddExports;
  private size = -1;
  private slot = 0;

  constructor(private readonly seed: number) {}

  /** The update for this global model, as bytes; valid until the next call. */
  next(global: Uint8Array): Uint8Array {
    const size = global.byteLength / 4;
    if (size !== this.size) this.layout(size);
    const { memory } = this.wasm;
    const [noise, from, to] = [0, this.slot, 2 * this.slot];
    new Uint8Array(memory.buffer, from, global.byteLength).set(global);
    const lanes = size & ~3;
    this.wasm.add(to, from, noise, lanes * 4);
    const [n, g, u] = [noise, from, to].map((offset) => new Float32Array(memory.buffer, offset, size));
    for (let i = lanes; i < size; i++) u[i] = g[i] + n[i];
    return encodeWeights(u);
  }

  private layout(size: number): void {
    const { memory } = this.wasm;
    this.slot = Math.ceil((size * 4) / 16) * 16;
    const needed = Math.ceil((3 * this.slot) / 65536) - memory.buffer.byteLength / 65536;
    if (needed > 0) memory.grow(needed);
    const random = seededRandom(this.seed);
    const noise = new Float32Array(memory.buffer, 0, size);
    for (let i = 0; i < size; i++) noise[i] = (random() - 0.5) * 1e-3;
    this.size = size;
  }
}

class LightParticipant {
  private readonly socket: Socket;
  private participant = '';
  /** the coordinator's frame limit, from its signed welcome: larger messages go in pieces */
  private maxFrameBytes = Infinity;
  private handshakeNonce = '';
  private readonly updates: NoisyUpdates;
  /** digests of the job setups received: requests name theirs */
  private readonly setups = new Set<string>();
  /** the last model sent ahead of its request */
  private ahead: { weightsSha256: string; weights: Uint8Array } | undefined;

  constructor(
    private readonly config: LightAgentConfig,
    private readonly keys: KeyPair,
    private readonly coordinatorKey: Uint8Array,
    index: number,
    onWelcome: () => void,
  ) {
    this.updates = new NoisyUpdates(index + 1);
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
    });
    this.socket.on('statistics-request', (m: unknown) => void this.statistics(m));
    this.socket.on('setup', (m: unknown) => this.setup(m));
    this.socket.on('train', (m: unknown) => void this.train(m));
    this.socket.on('evaluate', (m: unknown) => void this.evaluate(m));
    this.socket.on('model-ahead', (m: unknown) => this.keepAhead(m));
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
    this.socket.on('disconnect', () => process.exit(0));
  }

  private handshake() {
    this.handshakeNonce = randomNonce();
    const header = { type: 'handshake' as const, publicKey: encodeKey(this.keys.publicKey), timestamp: Date.now(), nonce: this.handshakeNonce };
    return { header, signature: signHeader('handshake', header, this.keys.secretKey), accepts: [...AGENT_ACCEPTS] };
  }

  private verified(domain: SignatureDomain, header: unknown, signature: string): void {
    if (!verifyHeader(domain, header, signature, this.coordinatorKey)) fail(`a ${domain} message not signed by the pinned key`);
  }

  private async reply(event: 'statistics' | 'update' | 'evaluation', message: Record<string, unknown>): Promise<void> {
    const weights = message.weights as Uint8Array | undefined;
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

  private setup(m: unknown): void {
    const { header, signature } = SetupMessageSchema.parse(m);
    this.verified('setup', header, signature);
    this.setups.add(setupDigest(header));
  }

  /** As the agent does: a model sent ahead of its request is hashed on arrival and kept for the request. */
  private keepAhead(m: unknown): void {
    const { weightsSha256, weights } = ModelAheadSchema.parse(m);
    if (sha256Hex(weights) !== weightsSha256) fail('a model sent ahead does not match its digest');
    this.ahead = { weightsSha256, weights: toBytes(weights) };
  }

  /** The model a request carries, or the one sent ahead of it that it names. */
  private globalModel(request: { weightsSha256: string }, weights: Uint8Array | undefined): Uint8Array {
    if (!weights) {
      if (this.ahead?.weightsSha256 !== request.weightsSha256) fail('a request without its model, and no model sent ahead has its digest');
      return this.ahead.weights;
    }
    if (!decodeWeights(weights) || sha256Hex(weights) !== request.weightsSha256) fail('the global model does not match its signed digest');
    return weights;
  }

  private async train(m: unknown): Promise<void> {
    const received = now();
    const { header: request, signature, weights: carried } = TrainMessageSchema.parse(m);
    this.verified('train', request, signature);
    if (!this.setups.has(request.setup)) fail('a train request names a job setup not received');
    const bytes = this.globalModel(request, carried && toBytes(carried));
    const weights = this.updates.next(bytes);
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
    const sent = now();
    await this.reply('update', message);
    if (TIMELINE_FILE) timeline.push({ job: request.job, round: request.round, issuedAt: request.issuedAt, received, sent, acked: now() });
  }

  private async evaluate(m: unknown): Promise<void> {
    const { header: request, signature, weights } = EvaluateMessageSchema.parse(m);
    this.verified('evaluate', request, signature);
    if (!this.setups.has(request.setup)) fail('an evaluate request names a job setup not received');
    this.globalModel(request, weights && toBytes(weights));
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
  // Exit rather than die of the signal, so that a CPU profile (--cpu-prof) is written.
  process.once('SIGTERM', () => process.exit(0));
  if (TIMELINE_FILE) process.on('exit', () => fs.appendFileSync(TIMELINE_FILE, timeline.map((entry) => `${JSON.stringify(entry)}\n`).join('')));
  // As fl-agent does when it starts: its collector's settings are part of what it stands in for.
  tuneHeapForModels();
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as LightAgentConfig;
  const coordinatorKey = decodePublicKey(config.coordinatorKey);
  if (!coordinatorKey) fail('the coordinator key is not a base64 Ed25519 public key');
  let waiting = config.secretKeys.length;
  const welcomed = () => {
    if (--waiting === 0) process.stdout.write('ready\n');
  };
  config.secretKeys.forEach((secret, i) => {
    const keys = keyPairFromSecretKey(new Uint8Array(Buffer.from(secret, 'base64')));
    new LightParticipant(config, keys, coordinatorKey!, i, welcomed);
  });
}

if (require.main === module) main(process.argv[2]);
