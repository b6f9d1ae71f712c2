/**
 * A dishonest coordinator against a site's agent: a stand-in that holds the
 * coordinator key the agent pinned and signs whatever it likes, as an operator
 * holding that key can. What the site accepted must hold whatever it is asked:
 * no update or evaluation beyond the job's rounds, one global model per round,
 * the spec it accepted, a secure job's inputs masked and summed with at least
 * the job's minimum of parties, no more noised inputs than the ε it
 * accepted, and one statistics sum unmasked; after a restart too, from its
 * journal.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import {
  AGENT_NAMESPACE,
  encodeKey,
  FailureHeaderSchema,
  encodeWeights,
  epsilonAfter,
  generateKeyPair,
  JobSpecSchema,
  packetCodec,
  SecAggClient,
  sha256Hex,
  setupDigest,
  signHeader,
  type Advertisement,
  type EvaluateHeader,
  type KeyPair,
  type SecAggRequestHeader,
  type SetupHeader,
  type TrainHeader,
} from '@fl/shared';
import { ParticipantAgent, type SitePolicy } from '@fl/participant-agent';
import { eventually, tempDir, writeCsv } from './harness';
import { stubWelcome, twoColumnSetup } from './raw-client';

jest.setTimeout(60_000);

/** What the agent sent: the event and its header (the rest of the message is not looked at). */
interface Sent {
  event: string;
  header: Record<string, unknown> & { round: number; code?: string; step?: string; weightsSha256?: string };
}

/** A coordinator that speaks the protocol with the key the agent pins, and signs what each test asks. */
class StandIn {
  readonly key = generateKeyPair();
  readonly sent: Sent[] = [];
  private readonly server = http.createServer();
  private readonly io = new Server(this.server, { transports: ['websocket'], parser: packetCodec });
  private socket: Socket | undefined;
  private connected: ((s: Socket) => void) | undefined;

  async listen(): Promise<string> {
    this.io.of(AGENT_NAMESPACE).on('connection', (s) => {
      for (const event of ['statistics', 'update', 'evaluation', 'failure', 'secagg']) {
        s.on(event, (message: { header: Sent['header'] }, ack: (reply: unknown) => void) => {
          this.sent.push({ event, header: message.header });
          ack({ ok: true });
        });
      }
      s.emit('welcome', stubWelcome(s.handshake.auth, this.key));
      this.socket = s;
      this.connected?.(s);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Starts an agent of this site and waits until this stand-in holds its connection. */
  async site(options: { url: string; dataFile: string; journalFile: string; keys: KeyPair; policy: SitePolicy; logged: string[] }): Promise<ParticipantAgent> {
    const connection = new Promise<Socket>((resolve) => (this.connected = resolve));
    const agent = new ParticipantAgent({
      coordinatorUrl: options.url,
      keys: options.keys,
      dataFile: options.dataFile,
      journalFile: options.journalFile,
      policy: options.policy,
      coordinatorKey: encodeKey(this.key.publicKey),
      log: (line) => options.logged.push(line),
    });
    await agent.start();
    await connection;
    return agent;
  }

  /** Emits a signed message and waits for the agent's one answer to it. */
  async ask(event: string, domain: Parameters<typeof signHeader>[0], header: object, extra: object = {}): Promise<Sent> {
    const before = this.sent.length;
    this.socket!.emit(event, { header, signature: signHeader(domain, header as never, this.key.secretKey), ...extra });
    await eventually(() => this.sent.length, (n) => n > before);
    return this.sent[before];
  }

  provide(setup: SetupHeader): void {
    this.socket!.emit('setup', { header: setup, signature: signHeader('setup', setup, this.key.secretKey) });
  }

  async close(): Promise<void> {
    await this.io.close();
  }
}

const model = (...values: number[]) => encodeWeights(new Float32Array(values));
const at = () => ({ deadline: Date.now() + 60_000, issuedAt: Date.now(), auditHead: { seq: 1, hash: '0'.repeat(64) } });

function trainHeader(setup: SetupHeader, round: number, weights: Uint8Array, more: Partial<TrainHeader> = {}): TrainHeader {
  return { type: 'train', job: setup.job, round, setup: setupDigest(setup), weightsSha256: sha256Hex(weights), evaluate: false, ...at(), ...more };
}

function siteData(name: string): { dataFile: string; journalFile: string } {
  const rows = Array.from({ length: 20 }, (_, i) => [String((i % 5) - 2), String((i % 3) - 1), i % 2 ? 'yes' : 'no']);
  const dataFile = writeCsv(path.join(tempDir(name), 'site.csv'), ['x1', 'x2', 'label'], rows);
  return { dataFile, journalFile: path.join(path.dirname(dataFile), 'journal.jsonl') };
}

const refusedWith = (code: string) => ({ event: 'failure', header: expect.objectContaining({ code }) });

describe('a plain job against a coordinator that asks for more than the site accepted', () => {
  const coordinator = new StandIn();
  const keys = generateKeyPair();
  const logged: string[] = [];
  const policy: SitePolicy = { features: { allowed: ['x1', 'x2'] }, target: { allowed: ['label'] }, maxRounds: 3, minParticipants: 3, requireSecureAggregation: false, requireDifferentialPrivacy: false };
  const spec = JobSpecSchema.parse({ model: 'logistic', features: [{ name: 'x1', type: 'numeric' }, { name: 'x2', type: 'numeric' }], target: 'label', rounds: 3, minParticipants: 3, evaluateEvery: 0 });
  const setup = twoColumnSetup('plain-1', spec);
  const models = [model(0, 0, 0), model(0.1, -0.2, 0.3), model(0.2, -0.1, 0.1), model(0.3, 0, 0.2)];
  let site: { dataFile: string; journalFile: string };
  let url: string;
  let agent: ParticipantAgent;

  const train = (round: number, weights: Uint8Array, more: Partial<TrainHeader> = {}, of = setup) =>
    coordinator.ask('train', 'train', trainHeader(of, round, weights, more), { weights });
  const evaluate = (round: number, weights: Uint8Array) => {
    const header: EvaluateHeader = { type: 'evaluate', job: setup.job, round, setup: setupDigest(setup), weightsSha256: sha256Hex(weights), ...at() };
    return coordinator.ask('evaluate', 'evaluate', header, { weights });
  };

  beforeAll(async () => {
    url = await coordinator.listen();
    site = siteData('dishonest-plain');
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
  });

  afterAll(async () => {
    agent?.stop();
    await coordinator.close();
  });

  it('answers the job it accepted: its statistics, then an update a round', async () => {
    expect(await coordinator.ask('statistics-request', 'statistics-request', { type: 'statistics-request', job: setup.job, spec, issuedAt: Date.now() })).toMatchObject({ event: 'statistics' });
    coordinator.provide(setup);
    expect(await train(1, models[0])).toMatchObject({ event: 'update', header: { round: 1 } });
    expect(await train(2, models[1])).toMatchObject({ event: 'update', header: { round: 2 } });
  });

  it('answers its statistics asked again over the rows it first counted: two of a grown file would give away the rows appended', async () => {
    const first = coordinator.sent.find((s) => s.event === 'statistics')!;
    fs.appendFileSync(site.dataFile, '2,1,yes\n');
    const again = await coordinator.ask('statistics-request', 'statistics-request', { type: 'statistics-request', job: setup.job, spec, issuedAt: Date.now() });
    expect(again).toMatchObject({ event: 'statistics', header: { statistics: first.header.statistics } });
  });

  it('trains no round beyond the job’s rounds', async () => {
    expect(await train(3, models[2])).toMatchObject({ event: 'update', header: { round: 3 } });
    expect(await train(4, models[3])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(await train(60, models[3])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(logged).toContainEqual(expect.stringMatching(/^job plain-1 round 4: refused: round 4 is beyond the job's 3 rounds \[REQUEST_OUTSIDE_JOB\]$/));
  });

  it('answers a round again only from the same model: another would reveal a second update of that round', async () => {
    const first = coordinator.sent.find((s) => s.event === 'update' && s.header.round === 2)!;
    // The same request again (a round started again, or sent again after a reconnection): the same update
    expect(await train(2, models[1])).toMatchObject({ event: 'update', header: { round: 2, weightsSha256: first.header.weightsSha256 } });
    // Another model, or the same model with another per-round config
    expect(await train(2, models[3])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(await train(2, models[1], { config: { proximalMu: 1 } })).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(logged).toContainEqual(expect.stringMatching(/^job plain-1 round 2: refused: its model is not the model of round 1 this site was sent before \[REQUEST_OUTSIDE_JOB\]$/));
  });

  it('evaluates each round’s model, and no other model of that round', async () => {
    expect(await evaluate(3, models[3])).toMatchObject({ event: 'evaluation', header: { round: 3 } });
    expect(await evaluate(3, models[3])).toMatchObject({ event: 'evaluation', header: { round: 3 } });
    expect(await evaluate(3, models[0])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    // round 2's model is the one its round 3 was trained from
    expect(await evaluate(2, models[0])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(await evaluate(4, models[3])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
  });

  it('takes no part in the job once its spec changed, within the site’s policy or not', async () => {
    for (const change of [{ learningRate: 50 }, { localEpochs: 100 }, { batchSize: 1 }, { target: 'x2', features: [{ name: 'x1', type: 'numeric' }] }]) {
      const changed = { ...setup, spec: JobSpecSchema.parse({ ...spec, ...change }) };
      coordinator.provide(changed);
      expect(await train(3, models[2], {}, changed)).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    }
    expect(logged).toContainEqual('job plain-1 round 3: refused: the job is not the one this site accepted: learningRate differs [REQUEST_OUTSIDE_JOB]');
  });

  it('holds all this after a restart, from its journal', async () => {
    agent.stop();
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
    const changed = { ...setup, spec: JobSpecSchema.parse({ ...spec, learningRate: 50 }) };
    coordinator.provide(changed);
    expect(await train(3, models[2], {}, changed)).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    coordinator.provide(setup);
    expect(await train(2, models[3])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(await train(4, models[3])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(await evaluate(3, models[0])).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(await train(3, models[2])).toMatchObject({ event: 'update', header: { round: 3 } });
  });
});

describe('a secure job with differential privacy against a coordinator that would see or spend more', () => {
  const coordinator = new StandIn();
  const keys = generateKeyPair();
  const others = { b: generateKeyPair(), c: generateKeyPair() };
  const logged: string[] = [];
  const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
  // Two rounds fit the budget, a third does not
  const epsilonBudget = (epsilonAfter(dp, 2) + epsilonAfter(dp, 3)) / 2;
  const policy: SitePolicy = { requireSecureAggregation: true, requireDifferentialPrivacy: false, maxEpsilon: 100, minParticipants: 3 };
  const spec = JobSpecSchema.parse({
    model: 'logistic',
    features: [
      { name: 'x1', type: 'numeric', bounds: [-3, 3] },
      { name: 'x2', type: 'numeric', bounds: [-3, 3] },
    ],
    target: 'label',
    classes: ['no', 'yes'],
    rounds: 5,
    minParticipants: 3,
    evaluateEvery: 0,
    strategy: { name: 'fedavg', weighting: 'uniform' },
    secureAggregation: {},
    dp: { ...dp, epsilonBudget },
  });
  const setup = twoColumnSetup('secure-1', spec);
  const weights = model(0.1, -0.2, 0.3);
  let site: { dataFile: string; journalFile: string };
  let url: string;
  let agent: ParticipantAgent;

  const identityOf = (id: string) => (id === 'site-a' ? keys : others[id as 'b' | 'c']).publicKey;
  const step = (round: number, name: SecAggRequestHeader['step'], more: Partial<SecAggRequestHeader> = {}): SecAggRequestHeader => ({
    type: 'secagg-request',
    job: setup.job,
    round,
    step: name,
    participants: ['b', 'c', 'site-a'],
    deadline: Date.now() + 60_000,
    issuedAt: Date.now(),
    ...more,
  });
  const ask = (header: SecAggRequestHeader) => coordinator.ask('secagg-request', 'secagg-request', header);
  /** the train request of the last round maskedRound played */
  let lastTrain: TrainHeader;

  /** A training round up to this site's masked input, its two neighbours played here; the answer to its train request. */
  async function maskedRound(round: number, of: SetupHeader = setup): Promise<Sent> {
    const advertised = await ask(step(round, 'advertise', { job: of.job }));
    if (advertised.event !== 'secagg') return advertised;
    const advert = advertised.header.advert as Advertisement;
    const [b, c] = (['b', 'c'] as const).map((id) => new SecAggClient({ job: of.job, round }, id, others[id].secretKey, 2));
    const identities = Object.fromEntries(['b', 'c', 'site-a'].map((id) => [id, encodeKey(identityOf(id))]));
    await ask(step(round, 'share', { job: of.job, adverts: [b.advertise(), c.advertise()], identities }));
    const shares = [
      ...(await b.shareKeys([advert, c.advertise()], ['c', 'site-a'], identityOf)),
      ...(await c.shareKeys([advert, b.advertise()], ['b', 'site-a'], identityOf)),
    ].filter((s) => s.destination === 'site-a');
    lastTrain = trainHeader(of, round, weights, { secagg: { shares } });
    return coordinator.ask('train', 'train', lastTrain, { weights });
  }

  beforeAll(async () => {
    url = await coordinator.listen();
    site = siteData('dishonest-secure');
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
    coordinator.provide(setup);
  });

  afterAll(async () => {
    agent?.stop();
    await coordinator.close();
  });

  it('never sends an update or statistics of a secure job unmasked', async () => {
    expect(await coordinator.ask('train', 'train', trainHeader(setup, 1, weights), { weights })).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(await coordinator.ask('statistics-request', 'statistics-request', { type: 'statistics-request', job: setup.job, spec, issuedAt: Date.now() })).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(coordinator.sent.filter((s) => s.event === 'update' || s.event === 'statistics')).toEqual([]);
  });

  it('masks only in rounds of at least the job’s minimum of parties', async () => {
    expect(await ask(step(1, 'advertise', { participants: ['b', 'site-a'] }))).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(logged).toContainEqual('job secure-1 round 1: refused: the round has 2 parties, fewer than the job\'s minimum of 3 [REQUEST_OUTSIDE_JOB]');
  });

  it('masks one input under a round’s keys: the masks of a second would cancel against the first’s', async () => {
    expect(await maskedRound(1)).toMatchObject({ event: 'secagg', header: { step: 'masked', round: 1 } });
    // The same train request again, as after a reconnection, without new keys advertised
    expect(await coordinator.ask('train', 'train', { ...lastTrain, ...at() }, { weights })).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(logged).toContainEqual('job secure-1 round 1: refused: a second masked input under the keys this site advertised for round 1 [REQUEST_OUTSIDE_JOB]');
  });

  it('helps unmask no sum of fewer parties than the job’s minimum', async () => {
    expect(await ask(step(1, 'unmask', { survivors: ['b', 'site-a'], dropped: ['c'] }))).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
  });

  it('sends no more noised inputs than the ε it accepted allows, each attempt of a round counted', async () => {
    // round 1 asked again with the same model, as a round started again is: a second noised input of the job
    expect(await maskedRound(1)).toMatchObject({ event: 'secagg', header: { step: 'masked', round: 1 } });
    expect(await maskedRound(2)).toEqual(refusedWith('PRIVACY_BUDGET_SPENT'));
    expect(logged).toContainEqual(expect.stringMatching(/^job secure-1 round 2: refused: noised input 3 would take ε to [\d.]+ at δ 0.00001, over the [\d.]+ this site accepted \[PRIVACY_BUDGET_SPENT\]$/));
    // Its train request, should the coordinator skip the steps before it
    expect(await coordinator.ask('train', 'train', trainHeader(setup, 2, weights, { secagg: { shares: [] } }), { weights })).toEqual(refusedWith('PRIVACY_BUDGET_SPENT'));
  });

  it('counts them after a restart too, from its journal', async () => {
    agent.stop();
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
    coordinator.provide(setup);
    expect(await maskedRound(3)).toEqual(refusedWith('PRIVACY_BUDGET_SPENT'));
  });

  it('declines a job in its statistics phase with a report the protocol takes: round 0, as for a statistics request', async () => {
    // Without dp, which maxEpsilon requires; asked in the first round of gathering vocabularies
    const other = JobSpecSchema.parse({ ...spec, dp: undefined });
    const declined = await ask({ ...step(-2, 'advertise'), job: 'secure-2', spec: other });
    expect(declined).toEqual(refusedWith('POLICY_DIFFERENTIAL_PRIVACY'));
    expect(FailureHeaderSchema.safeParse(declined.header).success).toBe(true);
    expect(declined.header).toMatchObject({ phase: 'statistics', round: 0 });
  });

  it('takes no part once secure aggregation is taken out of the job', async () => {
    const plain = { ...setup, spec: JobSpecSchema.parse({ ...spec, secureAggregation: undefined, dp: undefined }) };
    coordinator.provide(plain);
    expect(await coordinator.ask('train', 'train', trainHeader(plain, 2, weights), { weights })).toEqual(refusedWith('REQUEST_OUTSIDE_JOB'));
    expect(coordinator.sent.filter((s) => s.event === 'update')).toEqual([]);
  });

  it('under a total ε, refuses a secure job accepted within it at its next advertise of a training round once another is charged, masking nothing', async () => {
    // Restarted under a total that fits the job charged already and one more; each job's most ε is its budget
    agent.stop();
    agent = await coordinator.site({ url, ...site, keys, policy: { ...policy, maxEpsilonTotal: 2.5 * epsilonBudget }, logged });
    const [first, second] = ['secure-3', 'secure-4'].map((job) => twoColumnSetup(job, spec));
    for (const s of [first, second]) coordinator.provide(s);
    // Both accepted, neither charged: the second advertises its keys
    expect(await ask(step(1, 'advertise', { job: second.job }))).toMatchObject({ event: 'secagg', header: { step: 'advertise' } });
    expect(await maskedRound(1, first)).toMatchObject({ event: 'secagg', header: { step: 'masked', round: 1 } });
    const masked = coordinator.sent.filter((s) => s.header.step === 'masked').length;
    expect(await maskedRound(1, second)).toEqual({ event: 'failure', header: expect.objectContaining({ code: 'POLICY_DIFFERENTIAL_PRIVACY', phase: 'train', round: 1 }) });
    expect(logged).toContainEqual(expect.stringMatching(/^job secure-4 round 1: declined under this site's policy: .* \(the 2 DP jobs it trained before: ε [\d.]+\) \[POLICY_DIFFERENTIAL_PRIVACY\]$/));
    expect(await coordinator.ask('train', 'train', trainHeader(second, 1, weights, { secagg: { shares: [] } }), { weights })).toEqual(refusedWith('POLICY_DIFFERENTIAL_PRIVACY'));
    expect(coordinator.sent.filter((s) => s.header.step === 'masked')).toHaveLength(masked);
  });
});

describe('a secure job’s statistics phase against a coordinator that would unmask two sums over different sites', () => {
  const coordinator = new StandIn();
  const keys = generateKeyPair();
  const others = { b: generateKeyPair(), c: generateKeyPair(), d: generateKeyPair() };
  const logged: string[] = [];
  const policy: SitePolicy = { requireSecureAggregation: true, requireDifferentialPrivacy: false };
  const participants = ['b', 'c', 'd', 'site-a'];
  const spec = JobSpecSchema.parse({
    model: 'logistic',
    features: [
      { name: 'x1', type: 'numeric', bounds: [-3, 3] },
      { name: 'x2', type: 'numeric', bounds: [-3, 3] },
    ],
    target: 'label',
    classes: ['no', 'yes'],
    rounds: 2,
    minParticipants: 3,
    secureAggregation: { neighbours: 4, threshold: 2 },
  });
  const job = 'secure-statistics';
  let site: { dataFile: string; journalFile: string };
  let url: string;
  let agent: ParticipantAgent;

  const identityOf = (id: string) => (id === 'site-a' ? keys : others[id as keyof typeof others]).publicKey;
  const ask = (step: SecAggRequestHeader['step'], more: Partial<SecAggRequestHeader> = {}) =>
    coordinator.ask('secagg-request', 'secagg-request', { type: 'secagg-request', job, round: 0, step, participants, deadline: Date.now() + 60_000, issuedAt: Date.now(), ...more });

  /** An attempt of the phase's one round, the other three sites played here, unmasked over `survivors`: the site's answer to the unmask request. */
  async function statisticsSum(survivors: string[]): Promise<Sent> {
    const advertised = await ask('advertise', { spec });
    expect(advertised).toMatchObject({ event: 'secagg', header: { step: 'advertise' } });
    const advert = advertised.header.advert as Advertisement;
    const clients = (['b', 'c', 'd'] as const).map((id) => new SecAggClient({ job, round: 0 }, id, others[id].secretKey, 2));
    const adverts = clients.map((client) => client.advertise());
    const identities = Object.fromEntries(participants.map((id) => [id, encodeKey(identityOf(id))]));
    await ask('share', { adverts, identities });
    const shares = await Promise.all(
      clients.map((client) => client.shareKeys([advert, ...adverts.filter((a) => a.participant !== client.participant)], participants.filter((p) => p !== client.participant), identityOf)),
    );
    expect(await ask('masked', { shares: shares.flat().filter((s) => s.destination === 'site-a') })).toMatchObject({ event: 'secagg', header: { step: 'masked' } });
    return ask('unmask', { survivors, dropped: participants.filter((p) => !survivors.includes(p)) });
  }

  beforeAll(async () => {
    url = await coordinator.listen();
    site = siteData('dishonest-statistics');
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
  });

  afterAll(async () => {
    agent?.stop();
    await coordinator.close();
  });

  it('helps unmask the phase’s sum again over the same sites, after a restart too', async () => {
    expect(await statisticsSum(participants)).toMatchObject({ event: 'secagg', header: { step: 'unmask' } });
    agent.stop();
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
    expect(await statisticsSum(participants)).toMatchObject({ event: 'secagg', header: { step: 'unmask' } });
  });

  it('helps unmask no sum over other sites, even restarted since the first: the difference of the two would be site d’s statistics', async () => {
    agent.stop();
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
    expect(await statisticsSum(['b', 'c', 'site-a'])).toEqual({ event: 'failure', header: expect.objectContaining({ code: 'SECAGG_STATISTICS_AGAIN', step: 'unmask' }) });
  });
});

describe('a site’s total ε against a coordinator that runs jobs over the same data again', () => {
  const coordinator = new StandIn();
  const keys = generateKeyPair();
  const logged: string[] = [];
  const dp = { noiseMultiplier: 2, clipNorm: 1, delta: 1e-5 };
  // One job of three rounds fits the total, two do not
  const policy: SitePolicy = { requireSecureAggregation: false, requireDifferentialPrivacy: false, maxEpsilonTotal: 1.5 * epsilonAfter(dp, 3) };
  const spec = JobSpecSchema.parse({
    model: 'logistic',
    features: [{ name: 'x1', type: 'numeric' }, { name: 'x2', type: 'numeric' }],
    target: 'label',
    rounds: 3,
    minParticipants: 3,
    evaluateEvery: 0,
    strategy: { name: 'fedavg', weighting: 'uniform' },
    dp,
  });
  const most = epsilonAfter(dp, 3).toFixed(3);
  const statistics = (job: string) => coordinator.ask('statistics-request', 'statistics-request', { type: 'statistics-request', job, spec, issuedAt: Date.now() });
  /** A train request of the job, its setup sent first on this connection. */
  const train = (job: string, round: number) => {
    const setup = twoColumnSetup(job, spec);
    coordinator.provide(setup);
    const weights = model(0.1, -0.2, 0.3);
    return coordinator.ask('train', 'train', trainHeader(setup, round, weights), { weights });
  };
  let site: { dataFile: string; journalFile: string };
  let url: string;
  let agent: ParticipantAgent;

  beforeAll(async () => {
    url = await coordinator.listen();
    site = siteData('dishonest-total');
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
  });

  afterAll(async () => {
    agent?.stop();
    await coordinator.close();
  });

  it('charges a DP job against the total only once it trains: the statistics of many jobs use none of it', async () => {
    for (const job of ['total-1', 'total-2', 'total-3', 'total-4']) expect(await statistics(job)).toMatchObject({ event: 'statistics' });
    expect(await train('total-1', 1)).toMatchObject({ event: 'update', header: { round: 1 } });
  });

  it('refuses the second of two jobs accepted whose ε together is over the total at its first train request, for the rest of the job, and sends it nothing', async () => {
    const updates = coordinator.sent.filter((s) => s.event === 'update').length;
    expect(await train('total-2', 1)).toEqual({ event: 'failure', header: expect.objectContaining({ code: 'POLICY_DIFFERENTIAL_PRIVACY', phase: 'train', round: 1 }) });
    expect(logged).toContainEqual(
      `job total-2 round 1: declined under this site's policy: it may spend ε ${most} at δ 0.00001, which would take the ε of this site's jobs to ${(2 * epsilonAfter(dp, 3)).toFixed(3)}, over the allowed total ${policy.maxEpsilonTotal} (the DP job it trained before: ε ${most}) [POLICY_DIFFERENTIAL_PRIVACY]`,
    );
    expect(await train('total-2', 2)).toEqual(refusedWith('POLICY_DIFFERENTIAL_PRIVACY'));
    expect(coordinator.sent.filter((s) => s.event === 'update')).toHaveLength(updates);
  });

  it('after a restart, from its journal: trains on in the job it charged, refuses another it accepted at its first train request, and declines a new one', async () => {
    agent.stop();
    agent = await coordinator.site({ url, ...site, keys, policy, logged });
    expect(await train('total-1', 2)).toMatchObject({ event: 'update', header: { round: 2 } });
    expect(await train('total-3', 1)).toEqual(refusedWith('POLICY_DIFFERENTIAL_PRIVACY'));
    expect(await statistics('total-5')).toEqual(refusedWith('POLICY_DIFFERENTIAL_PRIVACY'));
    expect(logged).toContainEqual(expect.stringMatching(/^job total-5: declined under this site's policy: .* \(the DP job it trained before: ε [\d.]+\) \[POLICY_DIFFERENTIAL_PRIVACY\]$/));
  });
});
