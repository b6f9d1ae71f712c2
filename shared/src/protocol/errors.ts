import type { z } from 'zod';

/**
 * One table of error codes for every transport. `http` is the REST status; on
 * Socket.IO the code travels in an ack `{ ok: false, error: { code, message } }`
 * or in a refused handshake's `connect_error` data.
 */
export const ERROR_CODES = {
  // Frames and requests
  INVALID_FRAME: { http: 400, meaning: 'the message does not match its schema' },
  VALIDATION_FAILED: { http: 400, meaning: 'the request does not match its schema, or breaks a rule the message names' },
  FRAME_TOO_LARGE: { http: 413, meaning: 'the message is larger than the configured frame limit' },
  PAYLOAD_TOO_LARGE: { http: 413, meaning: 'the request body is larger than the limit' },
  UNSAFE_TEXT: { http: 400, meaning: 'a text field holds control characters or bidirectional overrides' },
  NOT_FOUND: { http: 404, meaning: 'no such resource' },
  CONFLICT: { http: 409, meaning: 'the resource already exists or is in another state' },
  UNAUTHORIZED: { http: 401, meaning: 'missing or wrong credentials' },
  FORBIDDEN: { http: 403, meaning: 'the credentials are valid but do not allow this action' },
  INTERNAL: { http: 500, meaning: 'an unexpected error; the coordinator logged it' },
  TIMEOUT: { http: 504, meaning: 'no answer came in time' },
  // Handshake
  UNSUPPORTED_PROTOCOL: { http: 426, meaning: 'the other side speaks a protocol version this one does not: upgrade the older of the two' },
  UNKNOWN_PARTICIPANT: { http: 403, meaning: 'the public key is not registered' },
  BAD_SIGNATURE: { http: 401, meaning: 'the signature does not verify against the key' },
  STALE_TIMESTAMP: { http: 401, meaning: 'the signed timestamp is outside the accepted window' },
  REPLAYED_NONCE: { http: 401, meaning: 'the nonce was already used' },
  RATE_LIMITED: { http: 429, meaning: 'too many failed attempts from this address or key; wait and retry' },
  COORDINATOR_RESTARTING: { http: 503, meaning: 'the coordinator is shutting down and will be back: reconnect with backoff' },
  TOO_MANY_ERRORS: { http: 429, meaning: 'the connection sent too many refused messages and is closed' },
  NOT_APPROVED: { http: 403, meaning: 'the participant is enrolled but an admin has not approved it (or rejected it)' },
  REVOKED: { http: 403, meaning: 'an admin revoked this participant: its connections and messages are refused' },
  // Enrollment
  INVITATION_INVALID: { http: 401, meaning: 'no invitation has this token' },
  INVITATION_EXPIRED: { http: 410, meaning: 'the invitation has expired' },
  INVITATION_USED: { http: 409, meaning: 'the invitation was used already; each is good for one enrollment' },
  // Updates and statistics
  WRONG_PARTICIPANT: { http: 403, meaning: 'the header names another participant than the connection' },
  UNKNOWN_JOB: { http: 404, meaning: 'no running job has this id' },
  NOT_SELECTED: { http: 409, meaning: 'this participant was not asked for this round or phase' },
  WRONG_ROUND: { http: 409, meaning: 'the update is not for the round that is open' },
  DUPLICATE_UPDATE: { http: 409, meaning: 'this participant already sent its reply for this round' },
  WRONG_SHAPE: { http: 422, meaning: 'the weights do not have the model size' },
  DIGEST_MISMATCH: { http: 422, meaning: 'the weights do not hash to the signed SHA-256' },
  NON_FINITE: { http: 422, meaning: 'the weights contain NaN or infinity' },
  IMPLAUSIBLE_SAMPLES: { http: 422, meaning: 'the sample count is not plausible' },
  INVALID_STATISTICS: { http: 422, meaning: 'the statistics do not match the job schema' },
  IMPLAUSIBLE_STATISTICS: { http: 422, meaning: 'the statistics are inconsistent or out of bounds; the site is left out of the job' },
  UNDECLARED_CLASS: { http: 422, meaning: "the statistics report a target class outside the job's classes; the site is left out of the job" },
  IMPLAUSIBLE_WEIGHTS: { http: 422, meaning: 'the weights are out of bounds; the update is left out of the round' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** An error that carries its code across layers; transports map it to their status. */
export class FlError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FlError';
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

export type Ack = { ok: true } | { ok: false; error: ErrorBody };
export const ackOk: Ack = { ok: true };
export const ackError = (code: ErrorCode, message: string): Ack => ({ ok: false, error: { code, message } });

/** The longest text a refusal gives for a message that does not match its schema, and the longest name of a field in it. */
const MAX_REFUSAL_TEXT = 1000;
const MAX_FIELD_NAME = 64;

/** At most `max` characters, the last of them an ellipsis when cut (never half of a surrogate pair). */
function shortened(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
}

/**
 * The first issue of a refused message, named by its path. Zod's text quotes
 * what was sent (unknown fields, the keys of a record), so it is cut short: a
 * frame of them must not make a line of the log, or an ack, as large as itself.
 */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue.path.length ? issue.path.map((p) => shortened(String(p), MAX_FIELD_NAME)).join('.') : 'message';
  return shortened(`${where}: ${issue.message}`, MAX_REFUSAL_TEXT);
}
