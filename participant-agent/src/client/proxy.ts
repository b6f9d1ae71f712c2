/**
 * An outbound proxy for the agent's connections: one HTTP CONNECT tunnel per
 * connection carries the Socket.IO socket and the REST calls alike, so TLS to
 * the coordinator stays end to end and its certificate is still verified.
 */
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';

/**
 * The proxy to reach a coordinator through: the one given, else HTTPS_PROXY
 * (HTTP_PROXY for an http:// coordinator) unless NO_PROXY names its host; none when neither says.
 */
export function proxyFor(coordinatorUrl: string, given?: string): string | undefined {
  return given || getProxyForUrl(coordinatorUrl) || undefined;
}

export function proxyAgent(proxy: string): HttpsProxyAgent<string> {
  return new HttpsProxyAgent(proxy, { keepAlive: true });
}
