/**
 * The secure-aggregation messages. The coordinator's requests are signed under
 * `secagg-request`; a party's replies under `secagg`, the masked input's bytes
 * covered by its SHA-256 in the header.
 */
import { z } from 'zod';
import { isBinary, type Binary } from '../codec/weights';
import { JobSpecSchema } from '../protocol/job';

const id = z.string().min(1).max(200);
const b64 = (max: number) => z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/).max(max);
const key = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'a base64 32-byte key');
const signature = z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'a base64 Ed25519 signature');
const ids = z.array(id).max(100_000);

export const AdvertisementSchema = z.strictObject({
  job: id,
  round: z.number().int().min(-2),
  participant: id,
  cPublicKey: key,
  sPublicKey: key,
  seedCommitment: key,
  signature,
});

export const EncryptedShareSchema = z.strictObject({ source: id, destination: id, nonce: b64(16), ciphertext: b64(200) });

export const SECAGG_STEPS = ['advertise', 'share', 'masked', 'unmask'] as const;
export type SecAggStep = (typeof SECAGG_STEPS)[number];

/**
 * Coordinator -> agent: the next step of a secure round. A training round's
 * `masked` inputs are asked with the train request; rounds −2 to 0 are the
 * job's statistics phase (−2 and −1 gather vocabularies, 0 sums the
 * statistics), whose masked inputs are asked here, with the shares.
 */
export const SecAggRequestHeaderSchema = z.strictObject({
  type: z.literal('secagg-request'),
  job: id,
  round: z.number().int().min(-2),
  step: z.enum(SECAGG_STEPS),
  /**
   * rounds −2 to 0, advertise: the job, as a statistics request carries it (there is no setup yet);
   * in round 0 with any gathered categories declared (secagg/vocabulary.ts)
   */
  spec: JobSpecSchema.optional(),
  /** round −1, advertise: the buckets of each gathered feature whose values are asked */
  frequentBuckets: z.array(z.array(z.number().int().min(0)).max(1 << 20)).max(100_000).optional(),
  /** the round's participants, from which every party draws the same neighbour graph */
  participants: ids,
  deadline: z.number().int(),
  issuedAt: z.number().int(),
  /** share: the neighbours' advertisements, and the identity keys they are signed with, as registered with the coordinator */
  adverts: z.array(AdvertisementSchema).max(254).optional(),
  identities: z.record(id, key).optional(),
  /** unmask */
  survivors: ids.optional(),
  dropped: ids.optional(),
  /** rounds −2 to 0, masked: the shares the participant's neighbours sealed for it */
  shares: z.array(EncryptedShareSchema).max(254).optional(),
});
export type SecAggRequestHeader = z.infer<typeof SecAggRequestHeaderSchema>;
export const SecAggRequestSchema = z.strictObject({ header: SecAggRequestHeaderSchema, signature });
export type SecAggRequest = z.infer<typeof SecAggRequestSchema>;

/** Agent -> coordinator, acknowledged: a party's answer to a step, or its masked input. */
export const SecAggReplyHeaderSchema = z.strictObject({
  type: z.literal('secagg'),
  job: id,
  round: z.number().int().min(-2),
  participant: id,
  nonce: z.string().min(16).max(128),
  step: z.enum(SECAGG_STEPS),
  advert: AdvertisementSchema.optional(),
  shares: z.array(EncryptedShareSchema).max(254).optional(),
  seedShares: z.record(id, b64(64)).optional(),
  keyShares: z.record(id, b64(64)).optional(),
  /** masked: the SHA-256 (hex) of the masked input's bytes, Uint32 little-endian */
  maskedSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
});
export type SecAggReplyHeader = z.infer<typeof SecAggReplyHeaderSchema>;
export const SecAggReplySchema = z.strictObject({ header: SecAggReplyHeaderSchema, signature, masked: z.custom<Binary>(isBinary, 'binary').optional() });
export type SecAggReply = z.infer<typeof SecAggReplySchema>;
