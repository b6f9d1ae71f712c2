/**
 * A secure round's steps with real parties' keys and shares but no sockets: the
 * host answers each step from SecAggClients, and a party told to stay silent at
 * a step gives no reply, as one that dropped.
 */
import { generateKeyPair, JobSpecSchema, neighbourGraph, SecAggClient, sha256Hex, thresholdOf, type KeyPair, type SecAggReplyHeader, type SecAggStep, type SecureAggregationSpec, type UnmaskResponse } from '@fl/shared';
import { ManualClock } from '../../core/clock';
import { ReplyCollection } from '../collection';
import { runSecureRound, type SecureReply, type SecureRoundHost } from './secure-round';

const JOB = 'job-1';
const ROUND = 1;

/** Each party's input: 4 weights and the weight, all its index + 1. */
const inputOf = (p: string) => new Uint32Array(5).fill(Number(p.slice(1)) + 1);

/**
 * A round of `n` parties p00…; `silent` names who gives no reply at which step,
 * `alter` what a party changes in its unmask reply.
 */
function federation(
  n: number,
  minParticipants: number,
  secureAggregation: Partial<SecureAggregationSpec>,
  silent: Partial<Record<SecAggStep, string[]>>,
  alter: Record<string, (reply: UnmaskResponse) => UnmaskResponse> = {},
  input: (p: string) => Uint32Array = inputOf,
) {
  const spec = JobSpecSchema.parse({ model: 'logistic', features: [{ name: 'x', type: 'numeric', bounds: [0, 1] }], target: 'y', classes: ['n', 'y'], minParticipants, secureAggregation });
  const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(2, '0')}`);
  const identities = new Map<string, KeyPair>(ids.map((id) => [id, generateKeyPair()]));
  const clients = new Map<string, SecAggClient>();
  const clock = new ManualClock();
  const asked: SecAggStep[] = [];
  const options = spec.secureAggregation!;
  const graph = neighbourGraph(ids, Math.min(options.neighbours, n - 1));
  const host: SecureRoundHost = {
    job: JOB,
    spec: { ...spec, secureAggregation: options },
    size: 4,
    async runStep(step, participants, check, ask) {
      asked.push(step);
      const collection = new ReplyCollection<SecureReply>(new Set(participants), clock.now() + 60_000, clock);
      for (const p of participants) {
        let header: Partial<SecAggReplyHeader> | undefined;
        if (silent[step]?.includes(p)) header = undefined;
        else if (step === 'advertise') {
          const client = new SecAggClient({ job: JOB, round: ROUND }, p, identities.get(p)!.secretKey, thresholdOf(options, n));
          clients.set(p, client);
          header = { advert: client.advertise() };
        } else if (step === 'share' && ask.event === 'secagg-request') {
          // As an agent does: a party that cannot share among t neighbours refuses the step and sends nothing.
          const adverts = ask.messageFor(p).header.adverts ?? [];
          header = await clients.get(p)!.shareKeys(adverts, graph.get(p)!, (id) => identities.get(id)?.publicKey).then((shares) => ({ shares }), () => undefined);
        }
        let masked: Uint8Array | undefined;
        if (!silent[step]?.includes(p) && step === 'masked' && ask.event === 'train') {
          const client = clients.get(p)!;
          client.receiveShares(ask.shares(p));
          masked = new Uint8Array(client.maskedInput(input(p)).buffer);
          header = { maskedSha256: sha256Hex(masked) };
        } else if (!silent[step]?.includes(p) && step === 'unmask' && ask.event === 'secagg-request') {
          const { survivors, dropped } = ask.messageFor(p).header;
          const response = clients.get(p)!.unmask({ job: JOB, round: ROUND, survivors: survivors!, dropped: dropped! });
          header = (alter[p] ?? ((r) => r))(response);
        }
        const reply = header && { header: header as SecAggReplyHeader, signature: '', masked };
        const refused = reply && check(p, reply);
        if (!reply) collection.fail(p, 'no reply');
        else if (refused && !refused.ok) collection.fail(p, refused.error.message, refused.error.code);
        else collection.accept(p, reply);
      }
      return collection;
    },
    sign: () => '',
    identityKey: (p) => identities.get(p)?.publicKey,
    identityKeyText: (p) => Buffer.from(identities.get(p)!.publicKey).toString('base64'),
    now: () => clock.now(),
    deadline: () => clock.now() + 60_000,
  };
  return { host, ids, asked };
}

describe('a secure round whose parties drop below the threshold', () => {
  it('fails after advertising, with SECAGG_TOO_FEW_NEIGHBOURS, when dropouts leave too few parties able to share', async () => {
    // Arrange: a ring of 4 neighbours among 6, t = 3; p01 and p02 advertise nothing, so p00 and p03 keep 2 live neighbours, then p04 and p05 too
    const { host, ids, asked } = federation(6, 4, { neighbours: 4, threshold: 3 }, { advertise: ['p01', 'p02'] });
    // Execute
    const outcome = await runSecureRound(host, ROUND, ids);
    // Assert: no party is asked for shares it could not give, and the reason names the code
    expect(asked).toEqual(['advertise']);
    expect(outcome).toMatchObject({ kind: 'short', reason: 'SECAGG_TOO_FEW_NEIGHBOURS: 0 of the 4 parties that advertised keys keep at least 3 (the threshold) live neighbours, below the minimum of 4' });
  });

  it('fails after key sharing, with SECAGG_THRESHOLD, before anyone trains, when a sharer’s shares reached fewer than t others', async () => {
    // Arrange: a ring of 4 neighbours among 7, t = 3; all advertise, p01 and p02 share nothing: p00 and p03 keep 2 sharing neighbours
    const { host, ids, asked } = federation(7, 4, { neighbours: 4, threshold: 3 }, { share: ['p01', 'p02'] });
    // Execute
    const outcome = await runSecureRound(host, ROUND, ids);
    // Assert
    expect(asked).toEqual(['advertise', 'share']);
    expect(outcome).toMatchObject({ kind: 'short', what: 'round 1 (key sharing)', reason: expect.stringMatching(/^SECAGG_THRESHOLD: p00, p03 shared keys with fewer than the threshold of 3/) });
  });
});

describe('a secure round with a dishonest share holder', () => {
  it('unmasks the sum and names the holder whose share does not fit, not the owner of the secret', async () => {
    // Arrange: 7 parties, 6 neighbours, t = 4; p00 alters the share of p01's seed it returns
    const flip = (share: string) => Buffer.from(Buffer.from(share, 'base64').map((x, i) => (i === 0 ? x ^ 1 : x))).toString('base64');
    const { host, ids } = federation(7, 5, { neighbours: 6, threshold: 4 }, {}, { p00: (r) => ({ ...r, seedShares: { ...r.seedShares, p01: flip(r.seedShares.p01) } }) });
    // Execute
    const outcome = await runSecureRound(host, ROUND, ids);
    // Assert: every input is in the sum; p00 is recorded as having failed the unmask step
    if (outcome.kind !== 'sum') throw new Error(`the round did not unmask: ${JSON.stringify(outcome)}`);
    expect(Array.from(outcome.sum)).toEqual(Array(5).fill(ids.reduce((s, p) => s + inputOf(p)[0], 0)));
    expect([...outcome.failures]).toEqual([['p00', { code: 'SECAGG_BAD_SHARE', reason: 'returned a share that does not fit the others of the seed of p01: it altered the share, or its owner dealt it so' }]]);
  });
});

describe('a secure round whose sum no honest inputs make', () => {
  it('commits nothing, and says why, when a party masked an input beyond its range', async () => {
    // Arrange: p02 puts 2^30 levels on a coordinate with weight 3; honest inputs reach at most levels times the weight
    const forged = (p: string) => (p === 'p02' ? Uint32Array.of(2 ** 30, 3, 3, 3, 3) : inputOf(p));
    const { host, ids } = federation(6, 4, { neighbours: 4, threshold: 3 }, {}, {}, forged);
    // Execute
    const outcome = await runSecureRound(host, ROUND, ids);
    // Assert
    expect(outcome).toMatchObject({ kind: 'short', what: 'round 1 (unmasking)', reason: expect.stringMatching(/^SECAGG_OUT_OF_RANGE: coordinate 0 of the sum is \d+ levels, beyond the \d+ that inputs of weight 21 in all can reach$/) });
  });

  it('commits nothing when the weights it carries are beyond what its inputs may claim', async () => {
    const forged = (p: string) => (p === 'p02' ? Uint32Array.of(1, 1, 1, 1, 100_000) : inputOf(p));
    const { host, ids } = federation(6, 4, { neighbours: 4, threshold: 3 }, {}, {}, forged);
    const outcome = await runSecureRound(host, ROUND, ids);
    expect(outcome).toMatchObject({ kind: 'short', reason: expect.stringMatching(/^SECAGG_OUT_OF_RANGE: the sum carries weight \d+, outside 6\.\.6000 for 6 inputs$/) });
  });
});
