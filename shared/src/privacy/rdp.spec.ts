import { compose, emptyAccountant, epsilonFromRdp, logErfc, roundFits, stepRdp, DEFAULT_ORDERS } from './rdp';

describe('RDP accountant', () => {
  it('matches TensorFlow Privacy: q = 0.0025, z = 1.3, 6,000 steps, δ = 1e-5 gives ε ≈ 0.724', () => {
    const state = compose(emptyAccountant(), 0.0025, 1.3, 6000);
    expect(epsilonFromRdp(state.rdp, 1e-5).epsilon).toBeCloseTo(0.724, 2);
  });

  it('has the closed form without sampling: α / 2z²', () => {
    expect(stepRdp(1, 2, 8)).toBeCloseTo(1, 12);
  });

  it('log erfc agrees with known values on both branches', () => {
    expect(Math.exp(logErfc(0.5))).toBeCloseTo(0.4795001221869535, 12);
    expect(Math.exp(logErfc(3))).toBeCloseTo(2.209049699858544e-5, 15);
    expect(logErfc(10)).toBeCloseTo(-102.87988902484489, 8);
    expect(Math.exp(logErfc(-2.5))).toBeCloseTo(1.999593047982555, 12);
  });

  it('integer and fractional orders agree where they meet', () => {
    const q = 0.01;
    expect(stepRdp(q, 1.1, 4.000001)).toBeCloseTo(stepRdp(q, 1.1, 4), 5);
  });

  it('ε grows with rounds, and the budget refuses the round that would exceed it', () => {
    let state = emptyAccountant();
    const eps: number[] = [];
    let rounds = 0;
    while (roundFits(state, 1, 5, 1e-5, 2)) {
      state = compose(state, 1, 5);
      eps.push(epsilonFromRdp(state.rdp, 1e-5).epsilon);
      rounds++;
    }
    expect(rounds).toBeGreaterThan(1);
    expect(eps[eps.length - 1]).toBeLessThanOrEqual(2);
    expect(epsilonFromRdp(compose(state, 1, 5).rdp, 1e-5).epsilon).toBeGreaterThan(2);
    for (let i = 1; i < eps.length; i++) expect(eps[i]).toBeGreaterThan(eps[i - 1]);
    expect(state.rdp).toHaveLength(DEFAULT_ORDERS.length);
  });
});
