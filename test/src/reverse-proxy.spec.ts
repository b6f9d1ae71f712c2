/**
 * A coordinator behind a reverse proxy, as the operator guide sets it up: every
 * request comes from the proxy's address, and the proxy names the client in
 * X-Forwarded-For. Believed only from the proxies `--trust-proxy` names, so the
 * per-address limits on failed sign-ins and agent handshakes count clients, and
 * one stranger cannot lock every user or site out; from anywhere else the
 * header is ignored.
 */
import { ConfigSchema } from '@fl/coordinator';
import { generateKeyPair } from '@fl/shared';
import { AdminApi, testCoordinator } from './harness';
import { connectRaw, handshakeAuth } from './raw-client';

jest.setTimeout(60_000);

const PASSWORD = 'correct horse battery staple';

async function signIn(url: string, client: string, password: string): Promise<string> {
  const response = await fetch(`${url}/api/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
    body: JSON.stringify({ name: 'ada', password }),
  });
  const body = (await response.json()) as { error?: { code: string } };
  return body.error?.code ?? String(response.status);
}

describe.each([
  { trustProxy: 'loopback', believed: true },
  { trustProxy: undefined, believed: false },
])('sign-ins and handshakes through a proxy on loopback, --trust-proxy $trustProxy', ({ trustProxy, believed }) => {
  it(`${believed ? 'counts failures per client the proxy names' : 'counts every client as the proxy'}`, async () => {
    // Prepare: a low limit, reached by a stranger's wrong passwords
    const coordinator = await testCoordinator({ loginFailuresPerMinute: 3, ...(trustProxy && { trustProxy }) });
    try {
      await AdminApi.of(coordinator).request('POST', '/api/users', { name: 'ada', password: PASSWORD, role: 'admin' });
      const stranger: string[] = [];
      for (let i = 0; i < 4; i++) stranger.push(await signIn(coordinator.url, '203.0.113.9', `wrong ${i}`));
      // Execute: the user signs in from elsewhere with the right password
      const user = await signIn(coordinator.url, '198.51.100.4', PASSWORD);
      // Assert
      expect(stranger).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'RATE_LIMITED']);
      expect(user).toBe(believed ? '201' : 'RATE_LIMITED');
    } finally {
      await coordinator.close();
    }
  });

  it(`${believed ? 'counts failed agent handshakes per client the proxy names' : 'counts every agent handshake as the proxy'}`, async () => {
    // Prepare: keys unknown to the coordinator, each its own (failures also count per key), past the limit from one client
    const coordinator = await testCoordinator({ handshakeFailuresPerMinute: 2, ...(trustProxy && { trustProxy }) });
    try {
      const attempt = async (client: string) => {
        const { socket, refused } = await connectRaw(coordinator.url, handshakeAuth(generateKeyPair()), undefined, { 'x-forwarded-for': client });
        socket.close();
        return refused?.code;
      };
      const fromStranger = [await attempt('203.0.113.9'), await attempt('203.0.113.9'), await attempt('203.0.113.9')];
      // Execute: another site's failed handshake, through the same proxy
      const fromAnother = await attempt('198.51.100.4');
      // Assert
      expect(fromStranger).toEqual(['UNKNOWN_PARTICIPANT', 'UNKNOWN_PARTICIPANT', 'RATE_LIMITED']);
      expect(fromAnother).toBe(believed ? 'UNKNOWN_PARTICIPANT' : 'RATE_LIMITED');
    } finally {
      await coordinator.close();
    }
  });
});

it('refuses a --trust-proxy that names no address', () => {
  expect(ConfigSchema.safeParse({ trustProxy: 'the proxy' }).error?.issues[0]).toMatchObject({ path: ['trustProxy'] });
  expect(ConfigSchema.safeParse({ trustProxy: '10.0.0.0/8, loopback' }).success).toBe(true);
});
