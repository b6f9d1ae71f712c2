/**
 * A small JSON client over node:http and node:https for the agent's REST calls.
 * Not fetch: Node's fetch cannot be given a private CA without another package,
 * and a consortium's coordinator often has a certificate from its own CA.
 */
import * as http from 'node:http';
import * as https from 'node:https';

export interface JsonRequestOptions {
  method: string;
  body?: unknown;
  /** PEM certificate(s) of the CA to trust instead of the system's; verification itself is never turned off */
  ca?: string | Buffer;
  headers?: Record<string, string>;
  /** for the whole exchange, connection to last byte */
  timeoutMs?: number;
  /** the connection's agent, e.g. an outbound proxy's */
  agent?: http.Agent;
}

export interface JsonResponse {
  status: number;
  /** the parsed JSON; null for an empty body */
  body: unknown;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** OpenSSL's codes for a certificate chain that does not lead to a trusted CA. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
/** Codes of a certificate that verifies but is not valid for this server or now. */
const INVALID = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_REJECTED']);

/**
 * A failed connection in plain words: which of network, TLS or protocol went
 * wrong, and for an untrusted certificate what to do about it.
 */
export function networkErrorMessage(err: Error & { code?: string }): string {
  const code = err.code ?? '';
  if (UNTRUSTED.has(code)) {
    return `the server's TLS certificate could not be verified: ${err.message} (if a private CA signed it, trust that CA: fl-agent run --ca FILE)`;
  }
  if (INVALID.has(code)) return `the server's TLS certificate could not be verified: ${err.message}`;
  // OpenSSL's own text here is a line of internals; what it means is that plain HTTP answered.
  if (/wrong version number|packet length too long|unknown protocol/i.test(err.message)) {
    return 'the server does not speak TLS at this address (use http:// for a server without TLS)';
  }
  if (code === 'ECONNRESET' && /hang up/.test(err.message)) return `${err.message}: the connection closed before an answer (https:// for a server with TLS?)`;
  return err.message;
}

/** Sends a JSON request and parses the JSON answer; any status is returned, a failure to get one is thrown. */
export function requestJson(url: string, options: JsonRequestOptions): Promise<JsonResponse> {
  const { method, body, ca, headers = {}, timeoutMs = DEFAULT_TIMEOUT_MS, agent } = options;
  const target = new URL(url);
  const what = `${method} ${target.origin}${target.pathname}`;
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    return Promise.reject(new Error(`${what}: only http:// and https:// addresses are supported`));
  }
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const requestHeaders: Record<string, string> = { accept: 'application/json' };
  for (const [name, value] of Object.entries(headers)) requestHeaders[name.toLowerCase()] = value;
  if (payload) {
    requestHeaders['content-type'] ??= 'application/json';
    requestHeaders['content-length'] = String(payload.byteLength);
  }
  return new Promise((resolve, reject) => {
    const fail = (err: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(new Error(`${what}: ${networkErrorMessage(err)}`, { cause: err }));
    };
    const request =
      target.protocol === 'https:'
        ? https.request(target, { method, headers: requestHeaders, ca, ...(agent && { agent }) })
        : http.request(target, { method, headers: requestHeaders, ...(agent && { agent }) });
    // Failed first, then destroyed: once the answer has begun, destroying the request would report only "aborted".
    const timer = setTimeout(() => {
      fail(new Error(`no answer in ${timeoutMs} ms`));
      request.destroy();
    }, timeoutMs);
    request.on('error', fail);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', fail);
      response.on('end', () => {
        clearTimeout(timer);
        const status = response.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        if (text.trim() === '') return resolve({ status, body: null });
        try {
          resolve({ status, body: JSON.parse(text) });
        } catch {
          const type = response.headers['content-type'] ?? 'no content type';
          const start = text.slice(0, 80).replace(/\s+/g, ' ');
          reject(new Error(`${what}: answered ${status} with a body that is not JSON (${type}): ${start}${text.length > 80 ? '…' : ''}`));
        }
      });
    });
    request.end(payload);
  });
}
