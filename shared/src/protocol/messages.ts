/**
 * Every message between coordinator and agents, one zod schema each. Strict:
 * a field outside the protocol is refused, never silently dropped, so what is
 * verified is exactly what was sent.
 * A signed message is `{ header, signature }` (+ `weights` as a binary attachment):
 * the signature covers the canonical bytes of the header under the domain named
 * by its `type` (see crypto/canonical.ts); weights are covered by the header's SHA-256.
 */
import { z } from 'zod';
import { isBinary, sha256Hex, type Binary } from '../codec/weights';
import { canonicalJson, PROTOCOL_VERSION } from '../crypto/canonical';
import { MODEL_KINDS } from '../model/model';
import { PublicKeySchema } from './enrollment';
import { JobSpecSchema, LocalStatisticsSchema, PreprocessingSchema } from './job';
import { EncryptedShareSchema } from '../secagg/messages';

/** The Socket.IO namespace agents connect to. */
export const AGENT_NAMESPACE = '/agents';

const signature = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'a base64 Ed25519 signature');
const nonce = z.string().min(16).max(128);
const id = z.string().min(1).max(200);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const binary = z.custom<Binary>(isBinary, 'binary weights');
/** The range of each metric an agent reports; a value outside it comes from a broken or dishonest site, and would move the round's mean. */
const METRIC_RANGES: Record<string, readonly [number, number]> = {
  accuracy: [0, 1],
  trainAccuracy: [0, 1],
  loss: [0, Infinity],
  trainLoss: [0, Infinity],
  mse: [0, Infinity],
  inertia: [0, Infinity],
};
const inRange = ([name, value]: [string, number]) => !Object.hasOwn(METRIC_RANGES, name) || (value >= METRIC_RANGES[name][0] && value <= METRIC_RANGES[name][1]);
const metrics = z
  .record(z.string().max(64), z.number().finite())
  .refine((m) => Object.keys(m).length <= 64, 'at most 64 metrics')
  .refine((m) => Object.entries(m).every(inRange), 'accuracy and trainAccuracy are within [0, 1]; loss, trainLoss, mse and inertia are not negative');

/** Agent -> coordinator, in the Socket.IO handshake `auth` field. */
export const HandshakeHeaderSchema = z.strictObject({
  type: z.literal('handshake'),
  /** the protocol version the agent speaks (absent before version 2): a coordinator refuses one it does not speak with UNSUPPORTED_PROTOCOL */
  protocol: z.literal(PROTOCOL_VERSION),
  publicKey: PublicKeySchema,
  /** milliseconds since the epoch, checked against the coordinator's clock */
  timestamp: z.number().int(),
  nonce,
});
export type HandshakeHeader = z.infer<typeof HandshakeHeaderSchema>;
// Not strict: Socket.IO may add its own fields to `auth` (connection state recovery); the signed header is.
export const HandshakeSchema = z.object({
  header: HandshakeHeaderSchema,
  signature,
});
export type Handshake = z.infer<typeof HandshakeSchema>;

/**
 * Coordinator -> agent right after the handshake. Signing the agent's handshake
 * nonce proves the coordinator holds the key the agent pins.
 */
export const WelcomeHeaderSchema = z.strictObject({
  type: z.literal('welcome'),
  /** the protocol version the coordinator speaks: an agent refuses one it does not speak */
  protocol: z.literal(PROTOCOL_VERSION),
  participant: id,
  coordinatorKey: PublicKeySchema,
  handshakeNonce: nonce,
  serverTime: z.number().int(),
  /** the largest message the coordinator accepts: an agent refuses to send more, in plain words */
  maxFrameBytes: z.number().int().positive(),
  /** the largest message it reassembles from pieces, each at most maxFrameBytes */
  maxMessageBytes: z.number().int().positive(),
});
export const WelcomeSchema = z.strictObject({ header: WelcomeHeaderSchema, signature });
export type Welcome = z.infer<typeof WelcomeSchema>;

/** Coordinator -> agent: report statistics of your data for this job. */
export const StatisticsRequestHeaderSchema = z.strictObject({
  type: z.literal('statistics-request'),
  job: id,
  spec: JobSpecSchema,
  issuedAt: z.number().int(),
});
export const StatisticsRequestSchema = z.strictObject({ header: StatisticsRequestHeaderSchema, signature });
export type StatisticsRequest = z.infer<typeof StatisticsRequestSchema>;

/** Agent -> coordinator, acknowledged. */
export const StatisticsHeaderSchema = z.strictObject({
  type: z.literal('statistics'),
  job: id,
  participant: id,
  nonce,
  statistics: LocalStatisticsSchema,
});
export type StatisticsHeader = z.infer<typeof StatisticsHeaderSchema>;
export const StatisticsMessageSchema = z.strictObject({ header: StatisticsHeaderSchema, signature });
export type StatisticsMessage = z.infer<typeof StatisticsMessageSchema>;

/**
 * Coordinator -> agent, once per connection and job, before the first request
 * that names it: what the job trains and how every site prepares its data. It
 * is the same all job long, so train and evaluate requests name it by digest
 * (setupDigest) rather than carry, and have every site parse and verify, the
 * same kilobytes (tens of them for wide data) every round.
 */
export const SetupHeaderSchema = z.strictObject({
  type: z.literal('setup'),
  job: id,
  spec: JobSpecSchema,
  preprocessing: PreprocessingSchema,
  model: z.strictObject({ kind: z.enum(MODEL_KINDS), inputDim: z.number().int().min(1), outputDim: z.number().int().min(1) }),
});
export type SetupHeader = z.infer<typeof SetupHeaderSchema>;
export const SetupMessageSchema = z.strictObject({ header: SetupHeaderSchema, signature });
export type SetupMessage = z.infer<typeof SetupMessageSchema>;

/** The name requests give a setup: the SHA-256 of its header's canonical JSON. */
export function setupDigest(header: SetupHeader): string {
  return sha256Hex(Buffer.from(canonicalJson(header), 'utf8'));
}

/** Coordinator -> agent: train from this global model, under the setup it names. */
export const TrainHeaderSchema = z.strictObject({
  type: z.literal('train'),
  job: id,
  round: z.number().int().min(1),
  /** setupDigest of the job's setup, sent on this connection before */
  setup: sha256,
  weightsSha256: sha256,
  /** milliseconds since the epoch after which the update is no longer awaited */
  deadline: z.number().int(),
  issuedAt: z.number().int(),
  /**
   * The audit log's last record when this was sent, signed with it: each site
   * keeps the heads it was shown, and a log rewritten afterwards no longer
   * holds them (`fl-agent audit verify`).
   */
  auditHead: z.strictObject({ seq: z.number().int().min(1), hash: sha256 }),
  /**
   * Evaluate the global model sent here (the previous round's) on the held-out
   * rows too, and report it with the update: one exchange a round instead of two.
   */
  evaluate: z.boolean(),
  /**
   * The strategy's per-round config for this participant, signed with the rest:
   * FedProx's μ, and SCAFFOLD's correction c − c_i, whose bytes (Float32 LE, the
   * model's layout) travel as the message's `correction` attachment and are
   * named here by their SHA-256. Absent: plain local training.
   */
  config: z
    .strictObject({
      proximalMu: z.number().min(0).max(100).optional(),
      correctionSha256: sha256.optional(),
    })
    .optional(),
  /**
   * Secure aggregation: the shares the participant's neighbours sealed for it.
   * The participant answers with a masked input (`secagg`, step `masked`), not
   * an update.
   */
  secagg: z.strictObject({ shares: z.array(EncryptedShareSchema).max(254) }).optional(),
});
export type TrainHeader = z.infer<typeof TrainHeaderSchema>;
export const TrainMessageSchema = z.strictObject({ header: TrainHeaderSchema, signature, weights: binary, correction: binary.optional() });
export type TrainMessage = z.infer<typeof TrainMessageSchema>;

/** Agent -> coordinator, acknowledged: the locally trained weights. */
export const UpdateHeaderSchema = z.strictObject({
  type: z.literal('update'),
  job: id,
  round: z.number().int().min(1),
  participant: id,
  nonce,
  numSamples: z.number().int(),
  /** e.g. trainLoss, trainAccuracy: computed locally on the participant's own data */
  metrics,
  weightsSha256: sha256,
  /** when the train request asked: the received global model (the previous round's) on the held-out rows */
  evaluation: z
    .strictObject({
      round: z.number().int().min(1),
      numExamples: z.number().int(),
      metrics,
      /** the model evaluated, so that metrics cannot be attributed to another */
      modelSha256: sha256,
    })
    .optional(),
});
export type UpdateHeader = z.infer<typeof UpdateHeaderSchema>;
export const UpdateMessageSchema = z.strictObject({ header: UpdateHeaderSchema, signature, weights: binary });
export type UpdateMessage = z.infer<typeof UpdateMessageSchema>;

/** Coordinator -> agent: evaluate this global model on your held-out rows (the last round's: the others are evaluated with the next train request). */
export const EvaluateHeaderSchema = TrainHeaderSchema.omit({ evaluate: true, config: true, secagg: true }).extend({ type: z.literal('evaluate') });
export type EvaluateHeader = z.infer<typeof EvaluateHeaderSchema>;
export const EvaluateMessageSchema = z.strictObject({ header: EvaluateHeaderSchema, signature, weights: binary });
export type EvaluateMessage = z.infer<typeof EvaluateMessageSchema>;

/** Agent -> coordinator, acknowledged: metrics of the global model on the participant's held-out rows. */
export const EvaluationHeaderSchema = z.strictObject({
  type: z.literal('evaluation'),
  job: id,
  round: z.number().int().min(1),
  participant: id,
  nonce,
  numExamples: z.number().int(),
  metrics,
  /** the model evaluated, so that metrics cannot be attributed to another */
  modelSha256: sha256,
});
export type EvaluationHeader = z.infer<typeof EvaluationHeaderSchema>;
export const EvaluationMessageSchema = z.strictObject({ header: EvaluationHeaderSchema, signature });
export type EvaluationMessage = z.infer<typeof EvaluationMessageSchema>;

/**
 * Agent -> coordinator, acknowledged: one piece of a message larger than a frame
 * (see codec/envelope.ts). Pieces come in order; the next is sent once this one is acked.
 */
export const ChunkSchema = z.strictObject({
  transfer: z.string().min(8).max(64),
  index: z.number().int().min(0),
  count: z.number().int().min(1).max(1_000_000),
  totalBytes: z.number().int().min(1),
  data: binary,
});
export type Chunk = z.infer<typeof ChunkSchema>;

/** Agent -> coordinator, acknowledged with the reassembled message's own ack. */
export const ChunkedSchema = z.strictObject({
  transfer: z.string().min(8).max(64),
  event: z.enum(['statistics', 'update', 'evaluation', 'secagg']),
});
export type Chunked = z.infer<typeof ChunkedSchema>;

/** Coordinator -> agent: a setup, train or evaluate request larger than a frame, after its pieces. */
export const DownlinkChunkedSchema = z.strictObject({
  transfer: z.string().min(8).max(64),
  event: z.enum(['setup', 'train', 'evaluate']),
});
export type DownlinkChunked = z.infer<typeof DownlinkChunkedSchema>;

/** Coordinator -> agent: informational, unsigned. */
export const JobFinishedSchema = z.strictObject({ job: id, status: z.string(), rounds: z.number().int() });
export type JobFinished = z.infer<typeof JobFinishedSchema>;
