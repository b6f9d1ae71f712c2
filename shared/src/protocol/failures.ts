/**
 * A site's failure report: why it sends no statistics, update or evaluation
 * for a request, or refuses a secure-aggregation step. It carries a code and
 * counts, never a value of the site's data (a refused step also the refusal's
 * message, made of the round's facts: parties and counts), and is signed like
 * every other message the site sends.
 */
import { z } from 'zod';
import { SECAGG_ERRORS } from '../secagg/errors';
import { SECAGG_STEPS } from '../secagg/messages';

/** Every code a site may report, with what it means; declines under the site's own policy start with POLICY_. */
export const SITE_FAILURE_CODES = {
  DATA_UNREADABLE: 'the data source cannot be read (missing file, no permission, not CSV)',
  DATA_MISSING_COLUMNS: "the data lacks columns the job needs",
  DATA_UNCONVERTIBLE: "values cannot be converted to the job's units and formats (a date not in the mapping's format, or a mapping converting to a unit the job does not declare)",
  DATA_TARGET_UNKNOWN_CLASS: "rows have a target value outside the job's classes",
  DATA_NO_ROWS: 'no row of the data can be trained on',
  DATA_TOO_MANY_ROWS: "the site holds more rows than the job's limit per site (checked at the site under secure aggregation)",
  TRAINING_FAILED: 'local training or evaluation failed',
  POLICY_COLUMN: "the site's policy does not allow a column the job uses",
  POLICY_MODEL: "the site's policy does not allow the job's model kind",
  POLICY_STRATEGY: "the site's policy does not allow the job's aggregation strategy",
  POLICY_ROUNDS: "the job has more rounds than the site's policy allows",
  POLICY_MIN_PARTICIPANTS: "the job's minimum participants per round is below the site's policy",
  POLICY_SECURE_AGGREGATION: "the site's policy requires secure aggregation, which the job does not use",
  POLICY_DIFFERENTIAL_PRIVACY: "the job's differential privacy is not what the site's policy requires: none, or more ε or δ than it allows, for the job or with the jobs the site accepted before",
  POLICY_TRAINING: "the job's batch size, local epochs or learning rate is outside the site's policy",
  // Requests of a job the site accepted that ask for more than it accepted: what a coordinator that keeps to the job never sends.
  REQUEST_OUTSIDE_JOB: 'the request is outside the job the site accepted (another spec, a round beyond its rounds, another model or config for a round, a secure input unmasked or among fewer parties than its minimum)',
  PRIVACY_BUDGET_SPENT: 'the site has sent as many noised inputs of the job as the ε it accepted allows (each attempt of a round counts)',
  // A refused secure-aggregation step: the protocol's own codes.
  ...SECAGG_ERRORS,
} as const;
export type SiteFailureCode = keyof typeof SITE_FAILURE_CODES;
export const SITE_FAILURE_CODE_NAMES = Object.keys(SITE_FAILURE_CODES) as [SiteFailureCode, ...SiteFailureCode[]];

/** The longest message a refused secure-aggregation step carries. */
export const MESSAGE_CHARS = 500;

/** Whether a code is a decline under the site's policy rather than a fault. */
export const isDecline = (code: string): boolean => code.startsWith('POLICY_');

/** Agent -> coordinator, acknowledged: the site will not answer this request, and why. */
export const FailureHeaderSchema = z
  .strictObject({
    type: z.literal('failure'),
    job: z.string().min(1).max(200),
    /** the round of the train, evaluate or secure-aggregation request (−2 to 0: a secure job's statistics phase); 0 for the statistics request */
    round: z.number().int().min(-2),
    /** which request it answers: `secagg`, a secure-aggregation step (`step`), whose masked input a train request may ask */
    phase: z.enum(['statistics', 'train', 'evaluate', 'secagg']),
    /** phase secagg: the step refused */
    step: z.enum(SECAGG_STEPS).optional(),
    participant: z.string().min(1).max(200),
    nonce: z.string().min(16).max(128),
    code: z.enum(SITE_FAILURE_CODE_NAMES),
    /** how many rows or columns are affected; names of counts only, never a value */
    counts: z
      .record(z.string().regex(/^[a-z][A-Za-z]{0,31}$/), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))
      .refine((c) => Object.keys(c).length <= 8, 'at most 8 counts'),
    /** phase secagg: the refusal's message, as the protocol words it */
    message: z.string().min(1).max(MESSAGE_CHARS).optional(),
  })
  .refine((h) => (h.phase === 'secagg') === (h.step !== undefined), 'a secagg failure names its step, and only it')
  .refine((h) => h.phase === 'secagg' || (h.message === undefined && h.round >= 0), 'only a secagg failure carries a message or a round below 0')
  .refine((h) => h.phase !== 'secagg' || h.code.startsWith('SECAGG_'), 'a secagg failure carries a SECAGG_ code');
export type FailureHeader = z.infer<typeof FailureHeaderSchema>;
export const FailureMessageSchema = z.strictObject({
  header: FailureHeaderSchema,
  signature: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, 'a base64 Ed25519 signature'),
});
export type FailureMessage = z.infer<typeof FailureMessageSchema>;

/** The reason a round records for a reported failure, in words: the code's meaning and its counts, or a refused step's message. */
export function describeFailure({ code, counts, step, message }: Pick<FailureHeader, 'code' | 'counts' | 'step' | 'message'>): string {
  const shown = Object.entries(counts).map(([name, n]) => `${name} ${n}`).join(', ');
  const what = step ? `refused the ${step} step` : isDecline(code) ? 'declined' : 'failed';
  return `${what}: ${message ?? SITE_FAILURE_CODES[code]}${shown ? ` (${shown})` : ''}`;
}
