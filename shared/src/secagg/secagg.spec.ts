import { randomBytes } from 'node:crypto';
import { generateKeyPair, type KeyPair } from '../crypto/keys';
import { JobSpecSchema } from '../protocol/job';
import {
  addInto,
  addPartyNoise,
  dequantize,
  neighbourGraph,
  quantizationFor,
  quantize,
  runLocalRound,
  SecAggClient,
  SecAggError,
  secureAggregationRefusal,
  secureInput,
  secureQuantization,
  rebuildSecrets,
  removeMasks,
  subsetsOf,
  sumOutOfRange,
  unmaskSum,
  type UnmaskMaterial,
} from '.';

const identities = new Map<string, KeyPair>();
const identityOf = (id: string) => {
  if (!identities.has(id)) identities.set(id, generateKeyPair());
  return identities.get(id)!;
};

function parties(n: number, d: number, seed = 1) {
  let state = seed;
  const random = () => ((state = (state * 48271) % 2147483647) / 2147483647);
  const q = quantizationFor(n, 1, 100);
  const map = new Map<string, { identity: KeyPair; input: Uint32Array }>();
  for (let i = 0; i < n; i++) {
    const id = `p${String(i).padStart(2, '0')}`;
    const input = quantize(Array.from({ length: d }, () => random() * 2 - 1), 1 + (i % 100), q, random);
    map.set(id, { identity: identityOf(id), input });
  }
  return { map, q };
}

function plainSum(map: Map<string, { input: Uint32Array }>, only?: string[]) {
  const first = [...map.values()][0].input;
  const sum = new Uint32Array(first.length);
  for (const [id, p] of map) if (!only || only.includes(id)) addInto(sum, p.input);
  return sum;
}

const expectCode = async (promise: Promise<unknown> | (() => unknown), code: string) => {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (err) {
    expect(err).toBeInstanceOf(SecAggError);
    expect((err as SecAggError).code).toBe(code);
    return;
  }
  throw new Error(`expected ${code}`);
};

describe('secure aggregation (SecAgg+)', () => {
  jest.setTimeout(60_000);

  it('builds a k-regular neighbour graph', () => {
    const ids = Array.from({ length: 10 }, (_, i) => `p${i}`);
    const graph = neighbourGraph(ids, 4);
    for (const [id, near] of graph) {
      expect(near).toHaveLength(4);
      for (const other of near) expect(graph.get(other)).toContain(id);
    }
    expect(neighbourGraph(['a', 'b', 'c'], 4).get('a')).toEqual(['b', 'c']);
  });

  it('masks cancel exactly: the unmasked sum equals the plain sum bit for bit', async () => {
    const { map } = parties(8, 300);
    const { sum } = await runLocalRound({ job: 'j', round: 1, neighbours: 4, threshold: 3, parties: map });
    expect(Buffer.from(sum.buffer).equals(Buffer.from(plainSum(map).buffer))).toBe(true);
  });

  it('recovers parties that drop after sharing keys and others that drop during unmasking', async () => {
    const { map, q } = parties(10, 200, 7);
    const { sum } = await runLocalRound({
      job: 'j',
      round: 2,
      neighbours: 6,
      threshold: 3,
      parties: map,
      drop: { beforeSharing: ['p09'], afterSharing: ['p02', 'p05'], duringUnmask: ['p07'] },
    });
    const survivors = ['p00', 'p01', 'p03', 'p04', 'p06', 'p07', 'p08'];
    expect(Array.from(sum)).toEqual(Array.from(plainSum(map, survivors)));
    // the weights were summed too: the last coordinate
    expect(dequantize(sum, q).weight).toBe(survivors.reduce((w, id) => w + 1 + Number(id.slice(1)), 0));
  });

  it('fails the round with SECAGG_THRESHOLD when a party keeps fewer than t live neighbours', async () => {
    const { map } = parties(6, 20, 3);
    // p01's neighbours in a 2-regular ring are p00 and p02: both go silent while unmasking
    await expectCode(runLocalRound({ job: 'j', round: 1, neighbours: 2, threshold: 2, parties: map, drop: { duringUnmask: ['p00', 'p02'] } }), 'SECAGG_THRESHOLD');
  });

  it('refuses a request for both shares of one party, and a second request', async () => {
    const ids = ['a', 'b', 'c'];
    const clients = ids.map((id) => new SecAggClient({ job: 'j', round: 1 }, id, identityOf(id).secretKey, 2));
    const adverts = clients.map((c) => c.advertise());
    const shares = await Promise.all(clients.map((c) => c.shareKeys(adverts.filter((a) => a.participant !== c.participant), ids.filter((i) => i !== c.participant), (id) => identityOf(id).publicKey)));
    clients.forEach((c) => c.receiveShares(shares.flat().filter((s) => s.destination === c.participant)));
    await expectCode(() => clients[0].unmask({ job: 'j', round: 1, survivors: ['b', 'c'], dropped: ['c'] }), 'SECAGG_BOTH_SHARES');
    const answer = clients[0].unmask({ job: 'j', round: 1, survivors: ['a', 'b'], dropped: ['c'] });
    expect(Object.keys(answer.seedShares)).toEqual(['b']);
    expect(Object.keys(answer.keyShares)).toEqual(['c']);
    await expectCode(() => clients[0].unmask({ job: 'j', round: 1, survivors: ['a', 'b', 'c'], dropped: [] }), 'SECAGG_ALREADY_ANSWERED');
  });

  it('refuses a second masked input under the same masks, and shares after the first', async () => {
    const ids = ['a', 'b', 'c'];
    const clients = ids.map((id) => new SecAggClient({ job: 'j', round: 1 }, id, identityOf(id).secretKey, 2));
    const adverts = clients.map((c) => c.advertise());
    const shares = await Promise.all(clients.map((c) => c.shareKeys(adverts.filter((a) => a.participant !== c.participant), ids.filter((i) => i !== c.participant), (id) => identityOf(id).publicKey)));
    const mine = shares.flat().filter((s) => s.destination === 'a');
    clients[0].receiveShares(mine);
    clients[0].maskedInput(Uint32Array.of(1, 2, 3));
    await expectCode(() => clients[0].maskedInput(Uint32Array.of(1, 2, 4)), 'SECAGG_PHASE');
    await expectCode(() => clients[0].receiveShares(mine), 'SECAGG_PHASE');
  });

  it('refuses keys not signed by the neighbour, and shares replayed for another round', async () => {
    const a = new SecAggClient({ job: 'j', round: 1 }, 'a', identityOf('a').secretKey, 2);
    const b = new SecAggClient({ job: 'j', round: 1 }, 'b', identityOf('b').secretKey, 2);
    const c = new SecAggClient({ job: 'j', round: 1 }, 'c', identityOf('c').secretKey, 2);
    const forged = { ...b.advertise(), participant: 'b' };
    await expectCode(a.shareKeys([forged], ['b', 'c'], (id) => (id === 'b' ? identityOf('c').publicKey : undefined)), 'SECAGG_BAD_SIGNATURE');
    const other = new SecAggClient({ job: 'j', round: 2 }, 'b', identityOf('b').secretKey, 2);
    await expectCode(a.shareKeys([other.advertise(), c.advertise()], ['b', 'c'], (id) => identityOf(id).publicKey), 'SECAGG_BAD_SIGNATURE');
    const ok = new SecAggClient({ job: 'j', round: 1 }, 'a', identityOf('a').secretKey, 2);
    await ok.shareKeys([b.advertise(), c.advertise()], ['b', 'c'], (id) => identityOf(id).publicKey);
    const fromB = await b.shareKeys([ok.advertise(), c.advertise()], ['a', 'c'], (id) => identityOf(id).publicKey);
    const toA = fromB.find((s) => s.destination === 'a')!;
    // A share altered on its way is skipped, not taken: a's neighbour b is not held, and too few remain to mask.
    const altered = { ...toA, ciphertext: Buffer.from(Buffer.from(toA.ciphertext, 'base64').map((x, i) => (i === 3 ? x ^ 1 : x))).toString('base64') };
    expect(ok.receiveShares([altered])).toEqual([{ source: 'b', reason: 'the share from b does not decrypt for this job, round and pair' }]);
    expect(ok.receiveShares([{ ...toA, ciphertext: Buffer.from('short').toString('base64') }])).toEqual([{ source: 'b', reason: 'the share from b has the wrong length' }]);
    await expectCode(() => ok.maskedInput(new Uint32Array(3)), 'SECAGG_TOO_FEW_NEIGHBOURS');
  });

  describe('a dealer whose share for a neighbour does not open', () => {
    it('leaves the receiver in the round: the receiver still masks with it, so the sum of every input comes out', async () => {
      const { map } = parties(6, 40, 5);
      const { sum, material } = await runLocalRound({ job: 'j', round: 1, neighbours: 4, threshold: 2, parties: map, garble: [{ from: 'p01', to: 'p02' }] });
      expect(Object.keys(material.maskedInputs).sort()).toEqual(['p00', 'p01', 'p02', 'p03', 'p04', 'p05']);
      expect(Array.from(sum)).toEqual(Array.from(plainSum(map)));
      // the receiver returns no share of the dealer it could not open
      const fromReceiver = material.responses.find((r) => r.participant === 'p02')!;
      expect(Object.keys(fromReceiver.seedShares)).not.toContain('p01');
    });

    it('and when the dealer then drops, its masks come off with its mask key rebuilt from its other holders', async () => {
      const { map } = parties(6, 40, 6);
      const { sum } = await runLocalRound({ job: 'j', round: 1, neighbours: 4, threshold: 2, parties: map, garble: [{ from: 'p01', to: 'p02' }], drop: { afterSharing: ['p01'] } });
      expect(Array.from(sum)).toEqual(Array.from(plainSum(map, ['p00', 'p02', 'p03', 'p04', 'p05'])));
    });

    it('fails the round, naming the dealer, when too few of its shares opened to rebuild its seed', async () => {
      const { map } = parties(6, 40, 7);
      const garble = ['p00', 'p02', 'p03', 'p05'].map((to) => ({ from: 'p01', to }));
      await expect(runLocalRound({ job: 'j', round: 1, neighbours: 4, threshold: 2, parties: map, garble })).rejects.toMatchObject({ code: 'SECAGG_THRESHOLD', message: expect.stringContaining('the seed of p01') });
    });
  });

  it('stored masked inputs look uniform: a chi-square test on their bytes', async () => {
    // inputs that are far from uniform: mostly zero
    const ids = Array.from({ length: 5 }, (_, i) => `u${i}`);
    const map = new Map(ids.map((id) => [id, { identity: identityOf(id), input: new Uint32Array(20_001) }]));
    const { material } = await runLocalRound({ job: 'j', round: 1, neighbours: 4, threshold: 2, parties: map });
    for (const masked of Object.values(material.maskedInputs)) {
      const bytes = new Uint8Array(masked.buffer);
      const counts = new Array<number>(256).fill(0);
      for (const b of bytes) counts[b]++;
      const expected = bytes.length / 256;
      const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
      // 255 degrees of freedom: the 99.9th percentile is about 330
      expect(chi2).toBeLessThan(330);
    }
  });

  it('the audit recompute: the kept material gives the sum again, and an altered masked input changes it', async () => {
    const { map } = parties(6, 50, 11);
    const { sum, material } = await runLocalRound({ job: 'j', round: 1, neighbours: 4, threshold: 2, parties: map, drop: { afterSharing: ['p03'] } });
    expect(Array.from(await unmaskSum(material))).toEqual(Array.from(sum));
    const altered: UnmaskMaterial = { ...material, maskedInputs: { ...material.maskedInputs, p00: Uint32Array.from(material.maskedInputs.p00, (v, i) => (i === 0 ? v + 1 : v)) } };
    expect(Array.from(await unmaskSum(altered))).not.toEqual(Array.from(sum));
    const badShare = { ...material, responses: material.responses.map((r) => ({ ...r, seedShares: Object.fromEntries(Object.entries(r.seedShares).map(([k, v]) => [k, Buffer.from(Buffer.from(v, 'base64').map((x, i) => (i === 0 ? x ^ 1 : x))).toString('base64')])) })) };
    await expectCode(unmaskSum(badShare), 'SECAGG_BAD_SHARE');
  });

  describe('a holder that returns a share altered', () => {
    /** the material with `holder`'s returned share of `of` changed by `change` */
    const alter = (material: UnmaskMaterial, holder: string, of: string, kind: 'seedShares' | 'keyShares', change: (share: Buffer) => Buffer): UnmaskMaterial => ({
      ...material,
      responses: material.responses.map((r) => (r.participant !== holder ? r : { ...r, [kind]: { ...r[kind], [of]: change(Buffer.from(r[kind][of], 'base64')).toString('base64') } })),
    });
    const flip = (share: Buffer) => Buffer.from(share.map((x, i) => (i === 5 ? x ^ 0x40 : x)));

    it('still unmasks the sum, and names the holder rather than the owner of the secret', async () => {
      // Arrange: 8 parties, 6 neighbours each, t = 4; p00 alters its share of p01's seed, p04 its share of dropped p03's mask key
      const { map } = parties(8, 40, 5);
      const { sum, material } = await runLocalRound({ job: 'j', round: 1, neighbours: 6, threshold: 4, parties: map, drop: { afterSharing: ['p03'] } });
      const altered = alter(alter(material, 'p00', 'p01', 'seedShares', flip), 'p04', 'p03', 'keyShares', flip);
      // Execute
      const rebuilt = await rebuildSecrets(altered);
      // Assert
      expect(rebuilt.misfits).toEqual([
        { holder: 'p00', of: 'p01', secret: 'seed' },
        { holder: 'p04', of: 'p03', secret: 'mask key' },
      ]);
      expect(Array.from(removeMasks(altered, rebuilt))).toEqual(Array.from(sum));
    });

    it('names a share of the wrong length, or one that takes another holder’s x coordinate', async () => {
      // Arrange: p02's share of p01's seed takes p00's x coordinate (its last byte); p04's is cut short
      const { map } = parties(8, 10, 6);
      const { sum, material } = await runLocalRound({ job: 'j', round: 1, neighbours: 6, threshold: 3, parties: map });
      const xOfP00 = Buffer.from(material.responses.find((r) => r.participant === 'p00')!.seedShares.p01, 'base64').at(-1)!;
      const altered = alter(alter(material, 'p02', 'p01', 'seedShares', (s) => Buffer.from(s.map((x, i) => (i === s.length - 1 ? xOfP00 : x)))), 'p04', 'p01', 'seedShares', (s) => s.subarray(1));
      // Execute
      const rebuilt = await rebuildSecrets(altered);
      // Assert
      expect(rebuilt.misfits).toEqual([
        { holder: 'p02', of: 'p01', secret: 'seed' },
        { holder: 'p04', of: 'p01', secret: 'seed' },
      ]);
      expect(Array.from(removeMasks(altered, rebuilt))).toEqual(Array.from(sum));
    });

    it('fails with SECAGG_BAD_SHARE, naming no holder, when fewer than t shares fit', async () => {
      // Arrange: t = 4 of 6 holders; three alter their shares of p01's seed, each its own way
      const { map } = parties(7, 10, 7);
      const { material } = await runLocalRound({ job: 'j', round: 1, neighbours: 6, threshold: 4, parties: map });
      const scramble = (share: Buffer) => Buffer.concat([randomBytes(share.length - 1), share.subarray(-1)]);
      const altered = ['p00', 'p02', 'p03'].reduce((m, holder) => alter(m, holder, 'p01', 'seedShares', scramble), material);
      // Execute, Assert
      await expect(rebuildSecrets(altered)).rejects.toMatchObject({ code: 'SECAGG_BAD_SHARE', message: expect.stringMatching(/^no 4 of the 6 shares of the seed of p01 rebuild what it committed to \(1003 sets tried\)$/) });
    });

    it('leaves every share out of one of the first n / (n − t) subsets tried, so that one altered share is found whatever t', () => {
      for (const [n, t] of [[254, 128], [102, 100], [7, 4], [9, 8]]) {
        const shares = Array.from({ length: n }, (_, i) => i);
        const first = [...subsetsOf(shares, t)].slice(0, Math.ceil(n / (n - t)));
        expect(first.every((subset) => new Set(subset).size === t)).toBe(true);
        expect(shares.filter((share) => first.every((subset) => subset.includes(share)))).toEqual([]);
      }
    });

    it('names no honest holder when colluding holders alter their shares alike, which can cancel in a subset', async () => {
      // Arrange: as above, but the three flip the same bit of the same byte: a subset whose Lagrange weights of theirs sum to 0 rebuilds the right seed
      const { map } = parties(7, 10, 7);
      const { sum, material } = await runLocalRound({ job: 'j', round: 1, neighbours: 6, threshold: 4, parties: map });
      const altered = ['p00', 'p02', 'p03'].reduce((m, holder) => alter(m, holder, 'p01', 'seedShares', flip), material);
      for (let run = 0; run < 5; run++) {
        // Execute
        const outcome = await rebuildSecrets(altered).then(
          (rebuilt) => ({ rebuilt }),
          (err: { code: string }) => ({ code: err.code }),
        );
        // Assert: failed, or the right sum with none of the three honest holders named
        if ('code' in outcome) expect(outcome.code).toBe('SECAGG_BAD_SHARE');
        else {
          expect(outcome.rebuilt.misfits.map((m) => m.holder).filter((h) => !['p00', 'p02', 'p03'].includes(h))).toEqual([]);
          expect(Array.from(removeMasks(altered, outcome.rebuilt))).toEqual(Array.from(sum));
        }
      }
    });
  });

  describe('the bounds of an honest training sum', () => {
    const q = quantizationFor(200, 1, 1000);
    const sumOf = (weight: number, level: number) => Uint32Array.of(level >>> 0, 0, weight);

    it('holds the weight to the number of inputs under uniform weighting, where each input weighs 1', () => {
      const uniform = { minParticipants: 2, strategy: { name: 'fedavg', weighting: 'uniform' } };
      const samples = { minParticipants: 2, strategy: { name: 'fedavg', weighting: 'samples' } };
      // A forged input of weight 1000 among 5: the mean of a coordinate at its bound then moves by the whole range
      expect(sumOutOfRange(uniform, q, sumOf(1005, q.levels * 1005), 6)).toBe('the sum carries weight 1005, outside 6..6 for 6 inputs');
      expect(sumOutOfRange(samples, q, sumOf(1005, q.levels * 1005), 6)).toBeNull();
      expect(sumOutOfRange(uniform, q, sumOf(6, q.levels * 6 + 1), 6)).toMatch(/^coordinate 0 of the sum is \d+ levels, beyond the \d+ that inputs of weight 6 in all can reach$/);
    });

    it('leaves room for the DP noise of every input summed, not of the minimum only', () => {
      // 100 inputs, each with noise of σ/√2: the sum's σ is √50 times the minimum's; 3 of its σ beyond the bound is honest
      const dp = { noiseMultiplier: 1, clipNorm: 0.001 };
      const spec = { dp, minParticipants: 2, strategy: { name: 'fedavg', weighting: 'uniform' } };
      const sigma = (dp.noiseMultiplier * dp.clipNorm * q.levels * Math.sqrt(100 / 2)) / q.range;
      expect(sumOutOfRange(spec, q, sumOf(100, Math.round(q.levels * 100 + 3 * sigma)), 100)).toBeNull();
      expect(sumOutOfRange(spec, q, sumOf(100, Math.round(q.levels * 100 + 11 * sigma)), 100)).toMatch(/^coordinate 0/);
    });
  });

  it('quantization: the dequantized weighted mean is within range/levels of the float mean', () => {
    const q = quantizationFor(20, 0.5, 1000);
    const values = [0.1234, -0.3, 0.49];
    const sum = new Uint32Array(4);
    const weights = [3, 1000, 17];
    for (const w of weights) addInto(sum, quantize(values, w, q));
    const { weightedSum, weight } = dequantize(sum, q);
    expect(weight).toBe(1020);
    values.forEach((v, i) => expect(Math.abs(weightedSum[i] / weight - v)).toBeLessThanOrEqual(q.range / q.levels));
    expect(() => quantizationFor(100_000, 1, 100_000)).toThrow(SecAggError);
  });
});

describe('strategies under secure aggregation', () => {
  it('refuses those that need individual updates, with the reason', () => {
    expect(secureAggregationRefusal('fedavg')).toBeNull();
    expect(secureAggregationRefusal('fedadam')).toBeNull();
    expect(secureAggregationRefusal('median')?.message).toMatch(/individual updates/);
    expect(secureAggregationRefusal('krum')?.message).toMatch(/individual updates/);
    expect(secureAggregationRefusal('trimmed-mean')?.message).toMatch(/individual updates/);
    expect(secureAggregationRefusal('scaffold')?.message).toMatch(/control variate/);
    expect(secureAggregationRefusal('kmeans')?.message).toMatch(/first round gathers each site's candidate centres/);
  });

  it('refuses a kmeans job, whatever strategy it names, at the spec', () => {
    // Prepare: a kmeans job's strategy may be left at its default
    const kmeans = { name: 'clusters', model: 'kmeans', k: 3, features: [{ name: 'a', type: 'numeric', bounds: [0, 1] }], minParticipants: 3, secureAggregation: {} };
    // Execute
    const issues = JobSpecSchema.safeParse(kmeans).error?.issues ?? [];
    // Assert
    expect(issues).toEqual([expect.objectContaining({ path: ['strategy', 'name'], message: expect.stringMatching(/^k-means cannot run under secure aggregation/) })]);
    expect(JobSpecSchema.safeParse({ ...kmeans, secureAggregation: undefined }).success).toBe(true);
  });
});

describe('a secure job’s neighbours and threshold', () => {
  const job = (secureAggregation: Record<string, unknown>, minParticipants = 3) =>
    JobSpecSchema.safeParse({ model: 'logistic', features: [{ name: 'x', type: 'numeric', bounds: [0, 1] }], target: 'y', classes: ['n', 'y'], minParticipants, secureAggregation });

  it('refuses a threshold equal to the neighbour count, which fails the round at any dropout', () => {
    // Execute: a 2-neighbour ring (its threshold is 2 whether given or not), and t = k = 4
    const ring = job({ neighbours: 2, threshold: 2 }).error?.issues ?? [];
    const ringDefault = job({ neighbours: 2 }).error?.issues ?? [];
    const full = job({ neighbours: 4, threshold: 4 }).error?.issues ?? [];
    // Assert
    expect(ring).toEqual([expect.objectContaining({ path: ['secureAggregation', 'threshold'], message: expect.stringMatching(/threshold of 2 with 2 neighbours leaves no room for a dropout/) })]);
    expect(ringDefault).toEqual([expect.objectContaining({ path: ['secureAggregation', 'neighbours'], message: expect.stringMatching(/leaves no room for a dropout/) })]);
    expect(full).toEqual([expect.objectContaining({ path: ['secureAggregation', 'threshold'], message: expect.stringMatching(/threshold of 4 with 4 neighbours/) })]);
  });

  it('accepts a threshold below the neighbour count, which survives a neighbour dropping', async () => {
    expect(job({ neighbours: 4, threshold: 3 }, 4).success).toBe(true);
    expect(job({ neighbours: 4 }).success).toBe(true);
    // what the rule protects: with t = 3 of k = 4 a party that drops after sharing is recovered
    const { map } = parties(6, 10);
    const { sum } = await runLocalRound({ job: 'j', round: 1, neighbours: 4, threshold: 3, parties: map, drop: { afterSharing: ['p02'] } });
    expect(Array.from(sum)).toEqual(Array.from(plainSum(map, ['p00', 'p01', 'p03', 'p04', 'p05'])));
  });

  it('refuses a threshold that a round of minParticipants cannot reach, naming the parties it needs', async () => {
    // Execute: t = 6 of k = 8; a round of 3 to 6 parties gives each 2 to 5 neighbours to hold its shares
    const three = job({ neighbours: 8, threshold: 6 }, 3).error?.issues ?? [];
    const six = job({ neighbours: 8, threshold: 6 }, 6).error?.issues ?? [];
    // Assert
    expect(three).toEqual([
      expect.objectContaining({
        path: ['secureAggregation', 'threshold'],
        message: "a threshold of 6 needs at least 7 parties a round, each party's shares going to at most the n − 1 others; minParticipants is 3: raise it to 7 or lower the threshold",
      }),
    ]);
    expect(six).toEqual([expect.objectContaining({ path: ['secureAggregation', 'threshold'], message: expect.stringMatching(/needs at least 7 parties a round.*minParticipants is 6/) })]);
    // what the rule prevents: a round of 6 never gets past key sharing
    const { map } = parties(6, 4);
    await expectCode(runLocalRound({ job: 'j', round: 1, neighbours: 8, threshold: 6, parties: map }), 'SECAGG_TOO_FEW_NEIGHBOURS');
  });

  it('accepts minParticipants one above the threshold, whose larger rounds survive a dropout, and a default threshold with any minParticipants', async () => {
    expect(job({ neighbours: 8, threshold: 6 }, 7).success).toBe(true);
    // the default threshold follows the round: ⌊min(k, n − 1)/2⌋ + 1, never above n − 1
    expect(job({ neighbours: 8 }, 3).success).toBe(true);
    // a round of 7 unmasks with each party's 6 others; a round of 8 survives one dropping after sharing
    const seven = parties(7, 4);
    expect(Array.from((await runLocalRound({ job: 'j', round: 1, neighbours: 8, threshold: 6, parties: seven.map })).sum)).toEqual(Array.from(plainSum(seven.map, [...seven.map.keys()])));
    const eight = parties(8, 4);
    const { sum } = await runLocalRound({ job: 'j', round: 1, neighbours: 8, threshold: 6, parties: eight.map, drop: { afterSharing: ['p05'] } });
    expect(Array.from(sum)).toEqual(Array.from(plainSum(eight.map, [...eight.map.keys()].filter((id) => id !== 'p05'))));
  });
});

describe('a DP job’s ring input', () => {
  it('leaves room for the noise, and carries noise of σ = z·C/√m per party in value units', () => {
    const spec = { secureAggregation: { range: 1, maxWeight: 1 }, dp: { noiseMultiplier: 2, clipNorm: 0.5 } };
    const plain = secureQuantization({ secureAggregation: spec.secureAggregation }, 10);
    const q = secureQuantization(spec, 10);
    expect(q.levels).toBeLessThan(plain.levels);
    const d = 20_000;
    const global = new Float32Array(d);
    const input = secureInput(global, new Float32Array(d), 1, q, { weighting: 'uniform', clipNorm: 0.5 });
    addPartyNoise(input, q, spec.dp, 4);
    expect(input[d]).toBe(1);
    let sq = 0;
    for (let i = 0; i < d; i++) sq += ((input[i] | 0) * (q.range / q.levels)) ** 2;
    expect(Math.sqrt(sq / d)).toBeGreaterThan(0.5 * 0.97);
    expect(Math.sqrt(sq / d)).toBeLessThan(0.5 * 1.03);
  });
});
