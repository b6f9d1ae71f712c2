/**
 * Agents and coordinators of different protocol versions, over real sockets:
 * a version-1 agent's handshake (no `protocol`, signed under FL1) is refused by
 * the coordinator with UNSUPPORTED_PROTOCOL and a message naming both
 * versions; a current agent stops, rather than retry for ever, when refused so,
 * and refuses a coordinator whose welcome names another version.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { Server } from 'socket.io';
import {
  AGENT_NAMESPACE,
  canonicalBytes,
  defaultEngine,
  encodeKey,
  generateKeyPair,
  packetCodec,
  randomNonce,
  type ErrorBody,
  type KeyPair,
} from '@fl/shared';
import { ParticipantAgent, type StopReason } from '@fl/participant-agent';
import { registerParticipant, AdminApi, tempDir, testCoordinator, writeCsv } from './harness';
import { connectRaw, stubWelcome } from './raw-client';

jest.setTimeout(120_000);

/** The handshake a version-1 agent signs: no protocol field, the FL1 prefix. */
function versionOneAuth(keys: KeyPair) {
  const header = { type: 'handshake', publicKey: encodeKey(keys.publicKey), timestamp: Date.now(), nonce: randomNonce() };
  return { header, signature: Buffer.from(defaultEngine.sign(canonicalBytes('handshake', header, 1), keys.secretKey)).toString('base64') };
}

/** An agent against a stand-in coordinator; resolves with why it stopped and what it was refused with. */
async function agentAgainst(serve: (io: Server) => void): Promise<{ why: StopReason; refused: ErrorBody[]; logged: string[] }> {
  const server = http.createServer();
  const io = new Server(server, { transports: ['websocket'], parser: packetCodec });
  serve(io);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const logged: string[] = [];
  const agent = new ParticipantAgent({
    coordinatorUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keys: generateKeyPair(),
    dataFile: writeCsv(path.join(tempDir('version'), 'site.csv'), ['x', 'y'], [['1', '0']]),
    log: (line) => logged.push(line),
    reconnectDelayMs: 50,
  });
  const refused: ErrorBody[] = [];
  agent.on('refused', (error: ErrorBody) => refused.push(error));
  const stopped = new Promise<StopReason>((resolve) => agent.on('stopped', resolve));
  void agent.start();
  const why = await stopped;
  await io.close();
  return { why, refused, logged };
}

describe('protocol versions', () => {
  it('a version-1 agent is refused by the coordinator with UNSUPPORTED_PROTOCOL, naming both versions', async () => {
    const coordinator = await testCoordinator();
    try {
      const keys = await registerParticipant(AdminApi.of(coordinator), 'site-old');
      const { refused, socket } = await connectRaw(coordinator.url, versionOneAuth(keys));
      socket.close();
      expect(refused).toEqual({
        code: 'UNSUPPORTED_PROTOCOL',
        message: 'this coordinator speaks protocol version 2; the agent speaks version 1 (its handshake names none): upgrade the older of the two',
      });
    } finally {
      await coordinator.close();
    }
  });

  it('a current agent refused with UNSUPPORTED_PROTOCOL stops instead of retrying', async () => {
    const { why, refused } = await agentAgainst((io) =>
      io.of(AGENT_NAMESPACE).use((_socket, next) => {
        const data = { code: 'UNSUPPORTED_PROTOCOL', message: 'this coordinator speaks protocol version 3; the agent speaks version 2: upgrade the older of the two' };
        next(Object.assign(new Error(data.message), { data }));
      }),
    );
    expect(why).toBe('refused-coordinator');
    expect(refused).toEqual([expect.objectContaining({ code: 'UNSUPPORTED_PROTOCOL' })]);
  });

  it('a current agent stops, saying why, when a coordinator from before versions refuses the protocol field', async () => {
    const { why, logged } = await agentAgainst((io) =>
      io.of(AGENT_NAMESPACE).use((_socket, next) => {
        // What a version-1 coordinator's strict schema answers.
        const data = { code: 'INVALID_FRAME', message: 'handshake header: Unrecognized key: "protocol"' };
        next(Object.assign(new Error(data.message), { data }));
      }),
    );
    expect(why).toBe('refused-coordinator');
    expect(logged).toContain('the coordinator does not know the protocol field of the handshake: it is older than protocol version 2; upgrade it');
  });

  it('a current agent refuses a coordinator whose welcome names another version', async () => {
    const coordinator = generateKeyPair();
    const { why, refused } = await agentAgainst((io) =>
      io.of(AGENT_NAMESPACE).on('connection', (s) => s.emit('welcome', stubWelcome(s.handshake.auth, coordinator, { protocol: 3 }))),
    );
    expect(why).toBe('refused-coordinator');
    expect(refused).toEqual([{ code: 'UNSUPPORTED_PROTOCOL', message: 'it speaks protocol version 3, this agent 2: upgrade the older of the two' }]);
  });
});
