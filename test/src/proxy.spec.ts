/**
 * Corporate networks: an agent behind an outbound proxy enrolls (REST) and
 * trains (Socket.IO) through it. The proxy here is a real HTTP CONNECT proxy
 * on loopback; the test counts the tunnels it opened to the coordinator, and
 * the coordinator is unreachable from the agent but through it.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { RunningCoordinator } from '@fl/coordinator';
import { enroll, ParticipantAgent, proxyAgent, proxyFor } from '@fl/participant-agent';
import { generateKeyPair } from '@fl/shared';
import { AdminApi, DATA_DIR, featuresOf, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(180_000);

/** A CONNECT-only proxy, as corporate proxies are for TLS: it records each tunnel's target. */
function connectProxy(): Promise<{ url: string; tunnels: string[]; close: () => Promise<void> }> {
  const tunnels: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url!);
    const [host, port] = req.url!.split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        tunnels,
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      });
    }),
  );
}

describe('an agent behind an outbound proxy', () => {
  let coordinator: RunningCoordinator;
  let proxy: Awaited<ReturnType<typeof connectProxy>>;
  const agents: ParticipantAgent[] = [];

  afterAll(async () => {
    for (const agent of agents) agent.stop();
    await coordinator?.close();
    await proxy?.close();
  });

  it('enrolls and takes part in a job with every connection through the proxy', async () => {
    coordinator = await testCoordinator();
    proxy = await connectProxy();
    const api = AdminApi.of(coordinator);
    const dir = tempDir('proxy');
    const file = `${DATA_DIR}/breast_cancer.csv`;
    const split = splitCsv(file, 2, { seed: 2, holdout: 0, dir });
    const coordinatorHost = new URL(coordinator.url).host;

    // REST through the proxy: enrollment with an invitation's token.
    const { body: invitation } = await api.request<{ token: string }>('POST', '/api/invitations', { organisation: 'Behind a proxy', name: 'proxied' });
    const keys = generateKeyPair();
    const agent = proxyAgent(proxy.url);
    await enroll({ coordinatorUrl: coordinator.url, token: invitation.token, name: 'proxied', keys, agent });
    expect(proxy.tunnels).toEqual([coordinatorHost]);
    await api.request('POST', '/api/participants/proxied/approve', {});

    // The socket through the proxy: the agent trains in a job with another site.
    // An agent of its own, so that the socket opens a tunnel of its own (a kept-alive one from enrollment would do too).
    const proxied = new ParticipantAgent({ coordinatorUrl: coordinator.url, keys, dataFile: split.parties[0], agent: proxyAgent(proxy.url), coordinatorKey: coordinator.identity.publicKey, log: () => undefined });
    agents.push(proxied);
    let updates = 0;
    proxied.on('trained', ({ ack }: { ack: { ok: boolean } }) => ack.ok && updates++);
    await proxied.start();
    agents.push(await startAgent(coordinator, 'direct', split.parties[1]));
    const job = await api.createJob({ model: 'logistic', features: featuresOf(file, 'diagnosis'), target: 'diagnosis', rounds: 2, minParticipants: 2, evaluateEvery: 0 });
    await coordinator.engine.whenFinished(job.id);

    expect((await api.job(job.id)).status).toBe('completed');
    expect(updates).toBe(2);
    // The enrollment's tunnel, then the socket's (a WebSocket upgrade), both to the coordinator.
    expect(proxy.tunnels.length).toBeGreaterThanOrEqual(2);
    expect(new Set(proxy.tunnels)).toEqual(new Set([coordinatorHost]));
  });

  it('takes the proxy from the environment unless NO_PROXY names the host, as fl-agent does', () => {
    const saved = { ...process.env };
    try {
      process.env.HTTPS_PROXY = 'http://proxy.example:3128';
      delete process.env.NO_PROXY;
      expect(proxyFor('https://fl.example.org')).toBe('http://proxy.example:3128');
      expect(proxyFor('https://fl.example.org', 'http://given:8080')).toBe('http://given:8080');
      process.env.NO_PROXY = 'fl.example.org';
      expect(proxyFor('https://fl.example.org')).toBeUndefined();
    } finally {
      process.env = saved;
    }
  });
});
