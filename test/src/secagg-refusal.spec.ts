/**
 * A party that refuses a secure-aggregation step, through a running coordinator
 * and five real agents: it tells the coordinator with a signed failure report,
 * which drops it from the step at once; the round goes on with the others, or
 * fails with the refusal's code when they are too few; a silent party is left
 * out waitAfterMinimumSeconds after the others answered, on a clock the test
 * moves. Each step's deadline is an hour: a round that ended waited for no
 * deadline. The statistics phase (round 0) waits for a silent party past
 * waitAfterMinimumSeconds, as a plain job's statistics phase does.
 */
import { ManualClock, toArray, type RunningCoordinator } from '@fl/coordinator';
import type { ParticipantAgent, SecureParty } from '@fl/participant-agent';
import { randomNonce, SecAggError, signHeader, type Ack, type FailureHeader, type JobSpecInput, type KeyPair, type SecAggErrorCode, type SecAggStep } from '@fl/shared';
import { AdminApi, breastCancerJob, eventually, registerParticipant, splitCsv, startAgent, tempDir, testCoordinator } from './harness';

jest.setTimeout(600_000);

const { file, spec: base, secure } = breastCancerJob();
const spec = { ...base, rounds: 1, roundDeadlineSeconds: 3600, secureAggregation: secure };

/** What a site is to refuse in round 1, as its secure party would: the step and the protocol's code. */
type Refusal = { step: SecAggStep; code: SecAggErrorCode };

/**
 * Makes a real agent's secure party refuse a step of round 1 while `refusals` names the site;
 * `opened` is told of each step of round 1 it is asked, while that step is open.
 */
function refusing(agent: ParticipantAgent, site: string, refusals: Map<string, Refusal>, opened: (site: string, job: string, step: SecAggStep) => Promise<void>): void {
  const party = (agent as unknown as { secure: SecureParty }).secure;
  const refuse = (step: SecAggStep, round: number) => {
    const refusal = refusals.get(site);
    if (round === 1 && refusal?.step === step) throw new SecAggError(refusal.code, `${site} refuses the ${step} step of round 1`);
  };
  const answer = party.answer.bind(party);
  party.answer = async (request, ...rest) => {
    if (request.round === 1) await opened(site, request.job, request.step);
    refuse(request.step, request.round);
    return answer(request, ...rest);
  };
  const masked = party.masked.bind(party);
  party.masked = (request, ...rest) => {
    void opened(site, request.job, 'masked');
    refuse('masked', request.round);
    return masked(request, ...rest);
  };
}

/** A real agent's secure-aggregation answers: `before` each is sent (it may hold it), and `answered` with the coordinator's ack. */
function intercepting(agent: ParticipantAgent, before: (round: number, step: SecAggStep) => Promise<void> | void, answered: (round: number, step: SecAggStep, ack: Ack) => void = () => {}): void {
  const internals = agent as unknown as { send(event: string, message: { header: { round?: number; step?: SecAggStep } }, timeoutMs: number): Promise<Ack> };
  const send = internals.send.bind(agent);
  internals.send = async (event, message, timeoutMs) => {
    const { round, step } = message.header;
    if (event !== 'secagg' || round === undefined || step === undefined) return send(event, message, timeoutMs);
    await before(round, step);
    const ack = await send(event, message, timeoutMs);
    answered(round, step, ack);
    return ack;
  };
}

/** Holds a real agent's answers to `step` of round 1 while `silences` names the site for it, until `released()` settles: a site connected but silent. */
function silencing(agent: ParticipantAgent, site: string, silences: Map<string, SecAggStep>, released: () => Promise<void>): void {
  intercepting(agent, async (round, step) => {
    if (round === 1 && silences.get(site) === step) await released();
  });
}

describe('a secure-aggregation step refused by a party', () => {
  /** The coordinator's deadlines move only when the test says: past the wait after the minimum, never to a step's deadline. */
  const clock = new ManualClock();
  let coordinator: RunningCoordinator;
  let api: AdminApi;
  const agents: ParticipantAgent[] = [];
  const refusals = new Map<string, Refusal>();
  const silences = new Map<string, SecAggStep>();
  /** lets the silent answers go, late; a silence holds until then */
  let release = () => {};
  let silence = new Promise<void>((resolve) => (release = resolve));
  const released = () => silence;
  /** the failure reports the sites sent, with the coordinator's ack */
  const reports: { site: string; job: string; round: number; phase: string; step?: string; code: string; ok: boolean }[] = [];
  /** by step of round 1, the sites whose answer the coordinator took, in the job running */
  const taken = new Map<SecAggStep, Set<string>>();
  const keys = new Map<string, KeyPair>();
  /** the job of the first test, whose steps were sent the bad reports of `probe` */
  let probedJob = '';
  /** by job (and job:masked), the acks of the bad failure reports sent while a step was open */
  const probed = new Map<string, Record<string, Ack>>();

  /** Failure reports that must be refused, as site-4's connection would deliver them, while `step` of round 1 is open. */
  const probe = async (job: string, step: SecAggStep): Promise<Record<string, Ack>> => {
    const header = (extra: Partial<FailureHeader>): FailureHeader => ({
      type: 'failure',
      job,
      round: 1,
      phase: 'secagg',
      step,
      participant: 'site-4',
      nonce: randomNonce(),
      code: 'SECAGG_THRESHOLD',
      counts: {},
      ...extra,
    });
    const send = (h: FailureHeader, signer = 'site-4') => coordinator.engine.submitFailure('site-4', { header: h, signature: signHeader('failure', h, keys.get(signer)!.secretKey) });
    const otherStep = step === 'share' ? 'unmask' : 'share';
    return {
      otherStep: await send(header({ step: otherStep })),
      otherRound: await send(header({ round: 2 })),
      otherSigner: await send(header({}), 'site-0'),
      unsigned: await coordinator.engine.submitFailure('site-4', { header: header({}), signature: 'A'.repeat(86) + '==' }),
      noStep: await coordinator.engine.submitFailure('site-4', { header: { ...header({}), step: undefined }, signature: 'A'.repeat(86) + '==' }),
      // In the masked step site-4 has no part once it refused to share.
      ...(step === 'masked' && { notInStep: await send(header({})) }),
    };
  };

  beforeAll(async () => {
    // One attempt a round: a round that cannot go on pauses its job with the reason.
    coordinator = await testCoordinator({ maxRoundAttempts: 1 }, clock);
    api = AdminApi.of(coordinator);
    const split = splitCsv(file, 5, { seed: 5, holdout: 0, dir: tempDir('secagg-refusal-data') });
    for (const [i, part] of split.parties.entries()) {
      const site = `site-${i}`;
      keys.set(site, await registerParticipant(api, site));
      const agent = await startAgent(coordinator, site, part, { keys: keys.get(site) });
      refusing(agent, site, refusals, async (asked, job, step) => {
        // In the first job only: while site-4 is asked to share (the step open, its answer not in yet), and once the masked step is open, the frames of `probe`.
        if (refusals.size !== 1 || refusals.get('site-4')?.step !== 'share') return;
        if (asked === 'site-4' && step === 'share' && !probed.has(job)) probed.set(job, await probe(job, 'share'));
        if (asked === 'site-0' && step === 'masked' && !probed.has(`${job}:masked`)) probed.set(`${job}:masked`, await probe(job, 'masked'));
      });
      silencing(agent, site, silences, released);
      intercepting(agent, () => undefined, (round, step, ack) => {
        if (round === 1 && ack.ok) taken.set(step, (taken.get(step) ?? new Set<string>()).add(site));
      });
      agent.on('failed', (r: { job: string; round: number; phase: string; step?: string; code: string; ack: { ok: boolean } }) =>
        reports.push({ site, job: r.job, round: r.round, phase: r.phase, step: r.step, code: r.code, ok: r.ack.ok }),
      );
      agents.push(agent);
    }
  });

  afterAll(async () => {
    release();
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  const run = async (refused: Record<string, Refusal>, silent: Record<string, SecAggStep> = {}, extra: Partial<JobSpecInput> = {}) => {
    refusals.clear();
    silences.clear();
    taken.clear();
    for (const [site, refusal] of Object.entries(refused)) refusals.set(site, refusal);
    for (const [site, step] of Object.entries(silent)) silences.set(site, step);
    return (await api.createJob({ ...spec, ...extra } as JobSpecInput)).id;
  };

  it('drops a party that refuses to share its keys at once, and sums the others’ inputs', async () => {
    const job = await run({ 'site-4': { step: 'share', code: 'SECAGG_TOO_FEW_NEIGHBOURS' } });
    probedJob = job;
    await coordinator.engine.whenFinished(job);
    expect((await api.job(job)).status).toBe('completed');
    const [round] = await api.rounds(job);
    expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-0', 'site-1', 'site-2', 'site-3']);
    expect(round.failures).toEqual([{ participant: 'site-4', code: 'SECAGG_TOO_FEW_NEIGHBOURS', reason: 'refused the share step: site-4 refuses the share step of round 1' }]);
    expect(reports.filter((r) => r.job === job)).toEqual([{ site: 'site-4', job, round: 1, phase: 'secagg', step: 'share', code: 'SECAGG_TOO_FEW_NEIGHBOURS', ok: true }]);
  });

  it('drops a party that cannot make its masked input at once, and recovers its masks', async () => {
    const job = await run({ 'site-2': { step: 'masked', code: 'SECAGG_QUANTIZATION' } });
    await coordinator.engine.whenFinished(job);
    expect((await api.job(job)).status).toBe('completed');
    const [round] = await api.rounds(job);
    expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-0', 'site-1', 'site-3', 'site-4']);
    expect(round.failures).toEqual([{ participant: 'site-2', code: 'SECAGG_QUANTIZATION', reason: 'refused the masked step: site-2 refuses the masked step of round 1' }]);
  });

  it('fails the round with the refusals’ codes when too few parties are left', async () => {
    const job = await run({ 'site-3': { step: 'share', code: 'SECAGG_BAD_SHARE' }, 'site-4': { step: 'share', code: 'SECAGG_BAD_SHARE' } });
    const paused = await eventually(() => api.job(job), (j) => j.status === 'paused' || j.status === 'completed' || j.status === 'failed', 300_000);
    expect(paused.status).toBe('paused');
    expect(paused.error).toContain('round 1 (key sharing) closed with 3 replies, below the minimum of 4');
    expect(paused.error).toContain('site-3: SECAGG_BAD_SHARE refused the share step');
    expect(paused.error).toContain('site-4: SECAGG_BAD_SHARE refused the share step');
    expect(paused.error).not.toContain('deadline passed');
    // the job is paused, not finished: stopped so that the coordinator closes
    await api.request('POST', `/api/jobs/${job}/stop`);
  });

  it.each(['advertise', 'share', 'masked'] as const)('closes the %s step waitAfterMinimumSeconds after the minimum answered, without a silent party', async (step) => {
    // Arrange: site-1 answers nothing in the step; its deadline is an hour
    const job = await run({}, { 'site-1': step }, { waitAfterMinimumSeconds: 1 });
    // Execute: once the four others (the minimum) answered the step, time passes the wait
    await eventually(() => taken.get(step)?.size ?? 0, (n) => n === 4);
    clock.advance(1_000);
    await coordinator.engine.whenFinished(job);
    // Assert: the round summed the four others' inputs, and says why site-1's is not in it
    expect((await api.job(job)).status).toBe('completed');
    const [round] = await api.rounds(job);
    expect(round.contributors.map((c) => c.participant).sort()).toEqual(['site-0', 'site-2', 'site-3', 'site-4']);
    expect(round.failures).toEqual([{ participant: 'site-1', reason: 'deadline passed' }]);
    release();
    silence = new Promise<void>((resolve) => (release = resolve));
  });

  it('refuses a report for another step or round, from another site, unsigned or malformed, and the round goes on', () => {
    // the first job: its round completed (above) with these frames sent while its steps were open
    const job = probedJob;
    const codes = (acks: Record<string, Ack> | undefined) => Object.fromEntries(Object.entries(acks ?? {}).map(([name, ack]) => [name, ack.ok ? 'ok' : ack.error.code]));
    expect(codes(probed.get(job))).toEqual({ otherStep: 'WRONG_ROUND', otherRound: 'WRONG_ROUND', otherSigner: 'BAD_SIGNATURE', unsigned: 'BAD_SIGNATURE', noStep: 'INVALID_FRAME' });
    // In the masked step site-4 is awaited no longer: a report for it is refused for that before its signature is read.
    expect(codes(probed.get(`${job}:masked`))).toEqual({
      otherStep: 'WRONG_ROUND',
      otherRound: 'WRONG_ROUND',
      otherSigner: 'NOT_SELECTED',
      unsigned: 'NOT_SELECTED',
      noStep: 'INVALID_FRAME',
      notInStep: 'NOT_SELECTED',
    });
  });
});

describe("a secure job's statistics phase and waitAfterMinimumSeconds", () => {
  /** The coordinator's deadlines move only when the test says: past the wait, an hour before the step's deadline. */
  const clock = new ManualClock();
  let coordinator: RunningCoordinator;
  const agents: ParticipantAgent[] = [];

  afterAll(async () => {
    agents.forEach((a) => a.stop());
    await coordinator?.close();
  });

  it('waits past waitAfterMinimumSeconds for a silent site, as a plain statistics phase does: its late keys are taken, its statistics in the sum', async () => {
    // Arrange: site-1 holds its key advertisement of round 0 (the statistics) until released; the others' acks are counted
    coordinator = await testCoordinator({}, clock);
    const api = AdminApi.of(coordinator);
    const split = splitCsv(file, 5, { seed: 5, holdout: 0, dir: tempDir('secagg-statistics-wait-data') });
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    let othersIn = () => {};
    const others = new Promise<void>((resolve) => (othersIn = resolve));
    let lateAck: (ack: Ack) => void = () => {};
    const late = new Promise<Ack>((resolve) => (lateAck = resolve));
    let advertised = 0;
    for (const [i, part] of split.parties.entries()) {
      const site = `site-${i}`;
      const agent = await startAgent(coordinator, site, part);
      agents.push(agent);
      const silent = site === 'site-1';
      intercepting(
        agent,
        async (round, step) => {
          if (silent && round === 0 && step === 'advertise') await released;
        },
        (round, step, ack) => {
          if (round !== 0 || step !== 'advertise') return;
          if (silent) lateAck(ack);
          else if (ack.ok && ++advertised === 4) othersIn();
        },
      );
    }
    const job = await api.createJob({ ...spec, waitAfterMinimumSeconds: 1 } as JobSpecInput);
    await others;

    // Execute: the four others (the minimum) advertised; time passes the wait, then site-1 answers
    clock.advance(2_000);
    release();

    // Assert: site-1's answer is taken, and the statistics are the sum of all five sites'
    expect(await late).toEqual({ ok: true });
    await coordinator.engine.whenFinished(job.id);
    expect((await api.job(job.id)).status).toBe('completed');
    const records = (await toArray(coordinator.store.auditRecords())).map(({ text }) => JSON.parse(text) as { kind: string; data: { job?: string; contributors?: { participant: string }[] } });
    const statistics = records.find((r) => r.kind === 'statistics.secure' && r.data.job === job.id)!;
    expect(statistics.data.contributors!.map((c) => c.participant).sort()).toEqual(['site-0', 'site-1', 'site-2', 'site-3', 'site-4']);
  });
});
