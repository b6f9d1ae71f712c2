/**
 * What a client sends must not cost more than it is allowed, nor let it speak
 * for others: REST bodies read only once the caller is let in, and over the
 * limit refused 413 without being read; sign-in attempts sent together held to
 * the limit; a stranger who names a participant's key or a user's name cannot
 * lock its owner out from another address; a newline a client sends cannot
 * forge a line of the coordinator's log; text fields refuse control characters.
 * Other addresses are 127.0.0.2 and up: loopback answers them all.
 */
import * as http from 'node:http';
import type { RunningCoordinator } from '@fl/coordinator';
import { encodeKey, generateKeyPair, type ErrorBody } from '@fl/shared';
import { connectRaw, handshakeAuth } from './raw-client';
import { AdminApi, eventually, registerParticipant, tempDir, testCoordinator } from './harness';
import { startCoordinatorProcess, type Running } from './processes';

jest.setTimeout(120_000);

const PASSWORD = 'a long enough passphrase';

interface Answer {
  status: number;
  body: { error?: ErrorBody } & Record<string, unknown>;
  /** bytes of the body sent when the answer came */
  sentWhenAnswered: number;
}

/**
 * A request whose body is `declared` bytes long by its headers but of which only
 * `send` bytes are sent before the answer is awaited; the whole body when `send`
 * is not given. From `localAddress`, if given.
 */
function request(
  url: string,
  method: string,
  route: string,
  options: { token?: string; body?: string | Buffer; declared?: number; send?: number; localAddress?: string; contentType?: string } = {},
): Promise<Answer> {
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : (options.body ?? Buffer.alloc(0));
  const declared = options.declared ?? body.length;
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = http.request(
      {
        host: hostname,
        port,
        method,
        path: route,
        localAddress: options.localAddress,
        agent: false,
        headers: {
          'content-type': options.contentType ?? 'application/json',
          'content-length': String(declared),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        const sentWhenAnswered = sent;
        let text = '';
        res.on('data', (c: Buffer) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode!, body: text ? (JSON.parse(text) as Answer['body']) : {}, sentWhenAnswered });
          req.destroy();
        });
      },
    );
    req.on('error', reject);
    const part = body.subarray(0, options.send ?? body.length);
    sent = part.length;
    if (options.send === undefined) req.end(part);
    else req.write(part);
  });
}

describe('REST bodies', () => {
  let coordinator: RunningCoordinator;
  let token: string;
  const logged: string[] = [];
  const write = process.stderr.write.bind(process.stderr);

  beforeAll(async () => {
    coordinator = await testCoordinator();
    token = coordinator.adminToken!;
    process.stderr.write = ((chunk: string) => (logged.push(String(chunk)), write(chunk))) as typeof process.stderr.write;
  });
  afterAll(async () => {
    process.stderr.write = write;
    await coordinator?.close();
  });

  it('refuses a stranger before reading the body: UNAUTHORIZED while 15 of its 15 MB are still unsent', async () => {
    const answer = await request(coordinator.url, 'POST', '/api/jobs', { body: Buffer.alloc(64 * 1024, 0x20), declared: 15 * 1024 * 1024, send: 64 * 1024 });
    expect([answer.status, answer.body.error?.code]).toEqual([401, 'UNAUTHORIZED']);
    expect(answer.sentWhenAnswered).toBe(64 * 1024);
  });

  it('answers a body over the limit 413 PAYLOAD_TOO_LARGE at once, signed in or not', async () => {
    const admin = await request(coordinator.url, 'POST', '/api/jobs', { token, body: Buffer.alloc(1024, 0x20), declared: 17 * 1024 * 1024, send: 1024 });
    expect([admin.status, admin.body.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(admin.body.error?.message).toBe('the request body is over the limit of 16 MB');
    // Sign-in is open to anyone: its bodies may be small only.
    const signIn = await request(coordinator.url, 'POST', '/api/session', { body: Buffer.alloc(1024, 0x20), declared: 1024 * 1024, send: 1024 });
    expect([signIn.status, signIn.body.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('still reads a large body of a caller it let in', async () => {
    const spec = { model: 'logistic', target: 'y', features: Array.from({ length: 20_000 }, (_, j) => ({ name: `a-long-column-name-${j}`, type: 'numeric' })) };
    const answer = await request(coordinator.url, 'POST', '/api/jobs', { token, body: JSON.stringify(spec) });
    expect(answer.status).toBe(201);
  });

  it('answers whatever else a client sends with a 4xx and its code, never a 500, and logs no stack', async () => {
    const answers = await Promise.all([
      request(coordinator.url, 'POST', '/api/jobs', { token, body: '{"model": ' }),
      request(coordinator.url, 'POST', '/api/jobs', { token, body: 'model=linear', contentType: 'text/plain' }),
      request(coordinator.url, 'POST', '/api/jobs', { token, body: '{"a":1}', contentType: 'application/json; charset=klingon' }),
      request(coordinator.url, 'POST', '/api/jobs', { token, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }),
      request(coordinator.url, 'GET', '/api/jobs/%E0%A4%A', { token }),
      request(coordinator.url, 'POST', '/api/participants/%ZZ/approve', { token, body: '{}' }),
      request(coordinator.url, 'POST', '/api/session', { body: '[1,2' }),
    ]);
    for (const answer of answers) {
      expect({ status: answer.status >= 400 && answer.status < 500, code: answer.body.error?.code }).toEqual({ status: true, code: expect.any(String) });
    }
    expect(answers[0].body.error).toEqual({ code: 'VALIDATION_FAILED', message: 'the request body is not valid JSON' });
    expect(logged.join('')).not.toMatch(/INTERNAL|at .*\.js:\d+/);
  });

  it('refuses control characters and bidirectional overrides in text fields with UNSAFE_TEXT', async () => {
    const key = encodeKey(generateKeyPair().publicKey);
    const cases = [
      ['/api/participants', { name: 'mallory', organisation: 'Mallory \u202Ekcab\u202C Bank', country: 'NL', publicKey: key }],
      ['/api/participants', { name: 'mallory', organisation: 'Mallory Bank', country: 'N\u0000L', publicKey: key }],
      ['/api/invitations', { organisation: 'Mallory\u001b[2J Bank', country: 'NL' }],
      ['/api/tokens', { label: 'ci\nforged' }],
      ['/api/jobs', { model: 'logistic', target: 'y', features: [{ name: 'income\u2066', type: 'numeric' }] }],
    ] as const;
    for (const [route, body] of cases) {
      const answer = await request(coordinator.url, 'POST', route, { token, body: JSON.stringify(body) });
      expect({ route, status: answer.status, code: answer.body.error?.code }).toEqual({ route, status: 400, code: 'UNSAFE_TEXT' });
    }
    expect((await coordinator.store.listParticipants()).map((p) => p.name)).not.toContain('mallory');
  });
});

describe('limits that hold under concurrency, and that a stranger cannot turn on others', () => {
  let coordinator: RunningCoordinator;

  beforeAll(async () => {
    coordinator = await testCoordinator({ loginFailuresPerMinute: 10, handshakeFailuresPerMinute: 20 });
    const api = AdminApi.of(coordinator);
    for (const name of ['ada', 'grace']) await api.request('POST', '/api/users', { name, password: PASSWORD, role: 'viewer' });
  });
  afterAll(() => coordinator?.close());

  const signIn = (name: string, password: string, localAddress: string) =>
    request(coordinator.url, 'POST', '/api/session', { body: JSON.stringify({ name, password }), localAddress });

  it('checks no more sign-ins than the limit of 16 sent together, 15 wrong and then the right one', async () => {
    const wrong = Array.from({ length: 15 }, (_, i) => signIn('ada', `wrong password ${i}`, '127.0.0.3'));
    const right = signIn('ada', PASSWORD, '127.0.0.3');
    const answers = await Promise.all([...wrong, right]);
    const checked = answers.filter((a) => a.status !== 429);
    expect(checked.length).toBeLessThanOrEqual(10);
    expect(answers.filter((a) => a.status === 429).every((a) => a.body.error?.code === 'RATE_LIMITED')).toBe(true);
    // Past the limit even the right password is refused, until the window passes.
    expect((await signIn('ada', PASSWORD, '127.0.0.3')).status).toBe(429);
  });

  it("does not let a stranger who knows a user's name lock her out from another address", async () => {
    for (let i = 0; i < 12; i++) await signIn('grace', `guess ${i}`, '127.0.0.4');
    expect((await signIn('grace', PASSWORD, '127.0.0.4')).body.error?.code).toBe('RATE_LIMITED');
    const own = await signIn('grace', PASSWORD, '127.0.0.1');
    expect(own.status).toBe(201);
  });

  it("does not let handshakes that name a participant's key, signed by another, lock the participant out", async () => {
    const victim = await registerParticipant(AdminApi.of(coordinator), 'victim');
    const codes: string[] = [];
    for (let i = 0; i < 25; i++) {
      const { refused } = await connectRaw(coordinator.url, handshakeAuth(victim, { signWith: generateKeyPair() }), '127.0.0.5');
      codes.push(refused!.code);
    }
    // The stranger's address is limited after 20 failures...
    expect(codes.slice(0, 20)).toEqual(Array(20).fill('BAD_SIGNATURE'));
    expect(codes.slice(20)).toEqual(Array(5).fill('RATE_LIMITED'));
    // ...the key's holder is not: from its own address it gets in.
    const own = await connectRaw(coordinator.url, handshakeAuth(victim), '127.0.0.1');
    expect(own.refused).toBeUndefined();
    own.socket.close();
  });
});

describe("the coordinator's log", () => {
  let coordinator: Running & { url: string };
  const TOKEN = 'log-admin-token-0123456789';

  beforeAll(async () => {
    coordinator = await startCoordinatorProcess(['--data-dir', `${tempDir('log')}/coordinator`, '--admin-token', TOKEN, '--log-level', 'info']);
  });
  afterAll(() => coordinator?.child.kill('SIGTERM'));

  it('takes no line from a client: a newline in a handshake key name stays inside the line that reports it', async () => {
    const forged = '2030-01-01T00:00:00.000Z info  participant mallory connected';
    const keys = await registerParticipant(new AdminApi(coordinator.url, TOKEN), 'honest');
    const auth = handshakeAuth(keys);
    const { refused } = await connectRaw(coordinator.url, { ...auth, header: { ...auth.header, [`x\n${forged}`]: 1 } });
    expect(refused?.code).toBe('INVALID_FRAME');
    const { socket } = await connectRaw(coordinator.url, handshakeAuth(keys));
    socket.close();
    // The line after the refusal is written: the log is in order, so the refusal's line is in too.
    await eventually(() => coordinator.output(), (log: string) => log.includes('participant honest connected'));
    const lines = coordinator.output().split('\n');
    expect(lines.filter((l) => l.startsWith('2030-01-01'))).toEqual([]);
    expect(lines.filter((l) => l.includes('participant mallory connected'))).toEqual([
      expect.stringMatching(/^\S+ warn {2}refused a handshake from \S+: INVALID_FRAME .*x\\n2030-01-01T00:00:00\.000Z info {2}participant mallory connected/),
    ]);
  });
});
