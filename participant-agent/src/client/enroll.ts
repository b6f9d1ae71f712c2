/**
 * `fl-agent enroll`: registers this site's public key with the coordinator using
 * an invitation's one-time token, and pins the coordinator's key from its signed
 * answer. The request is signed with the key being registered, proving the site
 * holds it; the answer is checked against the request (nonce, key) and against
 * any key already pinned or given out of band.
 */
import {
  EnrolledResponseSchema,
  encodeKey,
  fingerprint,
  decodePublicKey,
  randomNonce,
  signHeader,
  verifyHeader,
  type EnrolledHeader,
  type EnrollmentHeader,
  type KeyPair,
} from '@fl/shared';
import { requestJson } from './http';
import type { CoordinatorPins } from './pins';

export interface EnrollOptions {
  coordinatorUrl: string;
  token: string;
  name: string;
  keys: KeyPair;
  /** PEM of a private CA that signed the coordinator's certificate */
  ca?: string | Buffer;
  /** the coordinator's key, when given out of band: the answer must be signed by it */
  coordinatorKey?: string;
  pins?: CoordinatorPins;
  /** e.g. an outbound proxy's agent */
  agent?: import('node:http').Agent;
}

export class EnrollmentError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function enroll(options: EnrollOptions): Promise<{ enrolled: EnrolledHeader; fingerprint: string; pinned: 'new' | 'same' | 'replaced' }> {
  const header: EnrollmentHeader = {
    type: 'enrollment',
    token: options.token,
    name: options.name,
    publicKey: encodeKey(options.keys.publicKey),
    timestamp: Date.now(),
    nonce: randomNonce(),
  };
  const url = new URL('/api/enrollments', options.coordinatorUrl).toString();
  const response = await requestJson(url, {
    method: 'POST',
    ca: options.ca,
    agent: options.agent,
    body: { header, signature: signHeader('enrollment', header, options.keys.secretKey) },
  });
  if (response.status !== 201) {
    const error = (response.body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new EnrollmentError(error?.code ?? 'HTTP', `${error?.code ?? `HTTP ${response.status}`}: ${error?.message ?? 'enrollment refused'}`);
  }
  const parsed = EnrolledResponseSchema.safeParse(response.body);
  if (!parsed.success) throw new EnrollmentError('INVALID_FRAME', 'the coordinator answered with something that is not an enrollment');
  const { header: enrolled, signature } = parsed.data;
  const coordinatorKey = decodePublicKey(enrolled.coordinatorKey)!;
  if (!verifyHeader('enrolled', enrolled, signature, coordinatorKey)) {
    throw new EnrollmentError('BAD_SIGNATURE', 'the answer is not signed by the coordinator key it presents');
  }
  if (enrolled.nonce !== header.nonce || enrolled.publicKey !== header.publicKey) {
    throw new EnrollmentError('BAD_SIGNATURE', 'the answer is not for this request');
  }
  const shown = fingerprint(coordinatorKey);
  const origin = new URL(options.coordinatorUrl).origin;
  const pinned = options.pins?.get(origin);
  const expected = options.coordinatorKey ?? pinned;
  if (expected !== undefined && expected !== enrolled.coordinatorKey) {
    throw new EnrollmentError('BAD_SIGNATURE', `the coordinator presents key ${shown}, not the expected ${fingerprint(decodePublicKey(expected) ?? new Uint8Array(32))}`);
  }
  // A key given out of band and matched is pinned too, over an older pin of this address (the operator compared it): `run` then holds the coordinator to it without the flag.
  if (pinned !== enrolled.coordinatorKey) options.pins?.pin(origin, enrolled.coordinatorKey);
  const replaced = pinned !== undefined && pinned !== enrolled.coordinatorKey;
  return { enrolled, fingerprint: shown, pinned: pinned === undefined ? 'new' : replaced ? 'replaced' : 'same' };
}
