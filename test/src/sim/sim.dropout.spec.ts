/**
 * `fl-sim --drop-rate` end to end, real coordinator and agents: each party is
 * left out of exactly the attempts at rounds its seeded draws say (a real
 * disconnect, the coordinator's own recovery), and is back for the others,
 * whatever the machine's speed; the same seed gives the same participation,
 * and without secure aggregation the same model bit for bit.
 */
import * as path from 'node:path';
import { DATA_DIR } from '../harness';
import { dropDraw, type DropDraws } from './dropout';
import { SimReportSchema, type SimReport } from './report';
import { simulate, type SimOptions } from './simulate';

jest.setTimeout(180_000);

const partiesOf = (count: number) => Array.from({ length: count }, (_, i) => `p${i + 1}`);

/** The parties whose draws take them out of an attempt before their update (masked input) leaves; one that drops at the unmask step is in the sum. */
function absent(draws: DropDraws, parties: number, round: number, attempt: number): string[] {
  return partiesOf(parties).filter((_, i) => {
    const stage = dropDraw(draws, i, round, attempt);
    return stage !== undefined && stage !== 'unmask';
  });
}

/** The parties whose draws have them drop out of an attempt at any step. */
function dropping(draws: DropDraws, parties: number, round: number, attempt: number): string[] {
  return partiesOf(parties).filter((_, i) => dropDraw(draws, i, round, attempt) !== undefined);
}

/** A report less its timings, which are the machine's. */
const untimed = (report: SimReport) => ({ ...report, rounds: report.rounds.map(({ seconds: _seconds, ...round }) => round) });

const participation = (report: SimReport) => report.rounds.map(({ round, contributors, attempts, dropped }) => ({ round, contributors, attempts, dropped }));

const breastCancer = { data: path.join(DATA_DIR, 'breast_cancer.csv'), target: 'diagnosis' };

describe('fl-sim --drop-rate', () => {
  describe('plain FedAvg: 3 parties, P = 0.3, seed 14, 8 rounds', () => {
    const options: SimOptions = { ...breastCancer, parties: 3, rounds: 8, dropRate: 0.3, seed: 14 };
    const draws: DropDraws = { rate: 0.3, seed: 14, secure: false };
    let first: SimReport;
    let second: SimReport;
    const models: Float32Array[] = [];

    beforeAll(async () => {
      first = await simulate(options, { onModel: (model) => models.push(model.weights) });
      second = await simulate(options, { onModel: (model) => models.push(model.weights) });
    });

    it('leaves each party out of exactly the attempts its draws say, and has it take part in the others', () => {
      expect(SimReportSchema.safeParse(first).error).toBeUndefined();
      // The seed has all three drop out of the first attempts at rounds 1 and 6: the next attempt waits for the three to be back.
      expect(first.rounds.map((r) => r.attempts)).toEqual([2, 1, 1, 1, 1, 2, 1, 1]);
      for (const round of first.rounds) {
        const attempts = round.attempts!;
        // A plain round commits with one update: an attempt fails only when every party drops out of it.
        for (let attempt = 1; attempt < attempts; attempt++) expect(absent(draws, 3, round.round, attempt)).toEqual(partiesOf(3));
        const away = absent(draws, 3, round.round, attempts);
        expect(round.contributors).toEqual(partiesOf(3).filter((p) => !away.includes(p)));
        expect(round.participants).toBe(round.contributors!.length);
        const everyDrop = Array.from({ length: attempts }, (_, i) => dropping(draws, 3, round.round, i + 1)).flat();
        expect(round.dropped).toEqual(partiesOf(3).filter((p) => everyDrop.includes(p)));
      }
    });

    it('gives the same report and the same model, bit for bit, with the same seed', () => {
      expect(participation(second)).toEqual(participation(first));
      expect(untimed(second)).toEqual(untimed(first));
      expect(Buffer.from(models[1].buffer)).toEqual(Buffer.from(models[0].buffer));
    });
  });

  describe('secure aggregation: 5 parties, P = 0.3, seed 3, 6 rounds', () => {
    const options: SimOptions = { ...breastCancer, parties: 5, rounds: 6, secureAggregation: {}, dropRate: 0.3, seed: 3 };
    const draws: DropDraws = { rate: 0.3, seed: 3, secure: true };
    let first: SimReport;
    let second: SimReport;

    beforeAll(async () => {
      first = await simulate(options);
      second = await simulate(options);
    });

    it('sums the masked inputs of exactly the parties whose draws keep them in past the masked-input step', () => {
      expect(SimReportSchema.safeParse(first).error).toBeUndefined();
      // Every party neighbours every other (5 parties, 8 neighbours asked): a committed attempt sums every input that was sent.
      for (const round of first.rounds) {
        const away = absent(draws, 5, round.round, round.attempts!);
        expect(round.contributors).toEqual(partiesOf(5).filter((p) => !away.includes(p)));
      }
      // Round 1: p1 drops at the unmask step, after its masked input; the others unmask its self-mask, and its input is in the sum.
      expect(dropDraw(draws, 0, 1, 1)).toBe('unmask');
      expect(first.rounds[0]).toMatchObject({ attempts: 1, dropped: ['p1'], contributors: partiesOf(5) });
      expect(first.rounds.some((r) => r.attempts! > 1)).toBe(true);
    });

    it('gives the same participation with the same seed (each party rounds its masked input at random: not the same bits)', () => {
      expect(participation(second)).toEqual(participation(first));
    });
  });
});
