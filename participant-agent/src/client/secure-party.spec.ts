import { encodeKey, generateKeyPair, JobSpecSchema, SecAggClient, SecAggError, type Advertisement, type SecAggRequestHeader } from '@fl/shared';
import { SecureParty } from './secure-party';

const spec = JobSpecSchema.parse({
  model: 'logistic',
  features: [{ name: 'x', type: 'numeric', bounds: [0, 1] }],
  target: 'y',
  classes: ['n', 'y'],
  minParticipants: 3,
  secureAggregation: { neighbours: 4, threshold: 2 },
});
const keys = { a: generateKeyPair(), b: generateKeyPair(), c: generateKeyPair() };
const identityOf = (id: string) => keys[id as keyof typeof keys].publicKey;
const participants = ['a', 'b', 'c'];
const request = (step: SecAggRequestHeader['step'], extra: Partial<SecAggRequestHeader> = {}): SecAggRequestHeader => ({
  type: 'secagg-request',
  job: 'j',
  round: 0,
  step,
  participants,
  deadline: 0,
  issuedAt: 0,
  ...extra,
});

/** One statistics round of site a, its neighbours b and c played by SecAggClients, whose unmask request names `survivors` (and `dropped`). */
async function statisticsRound(party: SecureParty, survivors: string[], dropped = participants.filter((p) => !survivors.includes(p))) {
  // the vector of a one-feature, two-class job: 1 + 3 + 2 elements of 3 words
  const words = 6 * 3;
  const advertised = await party.answer(request('advertise', { spec }), spec, { vector: new Uint32Array(words), width: 3 });
  const advert = advertised.header.advert as Advertisement;
  const [b, c] = ['b', 'c'].map((id) => new SecAggClient({ job: 'j', round: 0 }, id, keys[id as 'b' | 'c'].secretKey, 2));
  const identities = Object.fromEntries(participants.map((id) => [id, encodeKey(identityOf(id))]));
  await party.answer(request('share', { adverts: [b.advertise(), c.advertise()], identities }), spec);
  const toA = [
    ...(await b.shareKeys([advert, c.advertise()], ['a', 'c'], identityOf)),
    ...(await c.shareKeys([advert, b.advertise()], ['a', 'b'], identityOf)),
  ].filter((s) => s.destination === 'a');
  const masked = await party.answer(request('masked', { shares: toA }), spec);
  expect(masked.masked?.byteLength).toBe(words * 4);
  return party.answer(request('unmask', { survivors, dropped }), spec);
}

describe('a site in secure statistics rounds', () => {
  it('helps unmask one statistics sum of a job, again over the same sites, never over others', async () => {
    const party = new SecureParty(() => 'a', keys.a.secretKey);
    await expect(statisticsRound(party, ['a', 'b', 'c'])).resolves.toMatchObject({ header: { step: 'unmask' } });
    // a phase started again over the same sites gives the same sum: answered
    await expect(statisticsRound(party, ['a', 'b', 'c'])).resolves.toMatchObject({ header: { step: 'unmask' } });
    // over sites that differ by one, the difference would be c's statistics: refused
    const refused = await statisticsRound(party, ['a', 'b']).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SecAggError);
    expect((refused as SecAggError).code).toBe('SECAGG_STATISTICS_AGAIN');
  });

  it('refuses a step of a round whose keys it does not hold with SECAGG_NO_KEYS, a code its failure report can carry', async () => {
    const party = new SecureParty(() => 'a', keys.a.secretKey);
    const refused = await party.answer(request('share', { round: 1 }), spec).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(SecAggError);
    expect((refused as SecAggError).code).toBe('SECAGG_NO_KEYS');
  });

  it('keeps no sum of a request it refused: another over other sites is the first', async () => {
    const party = new SecureParty(() => 'a', keys.a.secretKey);
    // c named on both sides: refused by the protocol, before anything is revealed
    await expect(statisticsRound(party, ['a', 'b', 'c'], ['c'])).rejects.toMatchObject({ code: 'SECAGG_BOTH_SHARES' });
    await expect(statisticsRound(party, ['a', 'b'])).resolves.toMatchObject({ header: { step: 'unmask' } });
  });

  describe('in a training round', () => {
    /** One attempt of round 1 up to its unmask over `survivors`, its neighbours' keys and shares played here; the masked input is not asked (it comes with the train request). */
    async function trainingRound(party: SecureParty, job: typeof spec, survivors: string[]) {
      const advertised = await party.answer(request('advertise', { round: 1 }), job);
      expect(advertised.header.advert).toBeDefined();
      const [b, c] = ['b', 'c'].map((id) => new SecAggClient({ job: 'j', round: 1 }, id, keys[id as 'b' | 'c'].secretKey, 2));
      const identities = Object.fromEntries(participants.map((id) => [id, encodeKey(identityOf(id))]));
      await party.answer(request('share', { round: 1, adverts: [b.advertise(), c.advertise()], identities }), job);
      return party.answer(request('unmask', { round: 1, survivors, dropped: participants.filter((p) => !survivors.includes(p)) }), job);
    }

    it('helps unmask an attempt started again over other sites: the first attempt’s unmasking may have fallen short, and refusing would stall the job at every dropout', async () => {
      const party = new SecureParty(() => 'a', keys.a.secretKey, undefined, () => ['a', 'b', 'c']);
      await expect(trainingRound(party, spec, ['a', 'b', 'c'])).resolves.toMatchObject({ header: { step: 'unmask' } });
      await expect(trainingRound(party, spec, ['a', 'b'])).resolves.toMatchObject({ header: { step: 'unmask' } });
    });
  });
});
