/**
 * A Rényi-DP accountant for the (subsampled) Gaussian mechanism, after Mironov,
 * Talwar and Zhang 2019 and TensorFlow Privacy's `rdp_accountant`: the RDP of
 * one step at each order α, summed over steps (RDP composes additively), then
 * converted to (ε, δ). Written here because no maintained npm package does it;
 * ADR 0023 says why and how it is checked.
 */

/** TensorFlow Privacy's default orders, so figures compare one to one. */
export const DEFAULT_ORDERS: readonly number[] = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, x) => 12 + x)];

function logAdd(a: number, b: number): number {
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return lo === -Infinity ? hi : Math.log1p(Math.exp(lo - hi)) + hi;
}

function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  if (a < b) throw new RangeError('logSub of a larger value');
  const d = Math.expm1(a - b);
  return Number.isFinite(d) ? Math.log(d) + b : a;
}

/** erfc(x) = e^{−x²}/√π · 1/(x + ½/(x + 1/(x + 3/2/(x + …)))), its continued fraction, good for x ≥ 2. */
function logErfcTail(x: number): number {
  let t = x;
  for (let k = 300; k >= 1; k--) t = x + k / 2 / t;
  return -x * x - 0.5 * Math.log(Math.PI) - Math.log(t);
}

/** erf by its Taylor series, good for |x| < 2 in double precision. */
function erfSeries(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-18 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

export function logErfc(x: number): number {
  if (x >= 2) return logErfcTail(x);
  if (x <= -2) return Math.log(2 - Math.exp(logErfcTail(-x)));
  return Math.log(1 - erfSeries(x));
}

/** log A_α for integer α: the binomial expansion of E[(μ(z)/μ0(z))^α]. */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  let logBinom = 0;
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    logA = logAdd(logA, logBinom + i * Math.log(q) + (alpha - i) * Math.log(1 - q) + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

/** log A_α for fractional α: the two-sided series of Mironov et al. 2019, section 3.3. */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let logA0 = -Infinity;
  let logA1 = -Infinity;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let coef = 1;
  for (let i = 0; ; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = Math.log(Math.abs(coef));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log(1 - q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log(1 - q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30 || i > 10_000) break;
  }
  return logAdd(logA0, logA1);
}

/** The RDP at order α of one step of the Gaussian mechanism with noise multiplier z, each record sampled with probability q. */
export function stepRdp(q: number, noiseMultiplier: number, alpha: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`the sampling rate must be in [0, 1], not ${q}`);
  if (!(noiseMultiplier > 0)) throw new RangeError(`the noise multiplier must be positive, not ${noiseMultiplier}`);
  if (q === 0) return 0;
  if (q === 1) return alpha / (2 * noiseMultiplier * noiseMultiplier);
  return (Number.isInteger(alpha) ? logAInt(q, noiseMultiplier, alpha) : logAFrac(q, noiseMultiplier, alpha)) / (alpha - 1);
}

/**
 * (ε, δ) from RDP, with the conversion of Canonne, Kamath and Steinke 2020
 * (ε = r + log(1 − 1/α) − log(δ·α)/(α − 1)), minimised over the orders.
 */
export function epsilonFromRdp(rdp: readonly number[], delta: number, orders: readonly number[] = DEFAULT_ORDERS): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), not ${delta}`);
  let best = { epsilon: Infinity, order: orders[0] };
  orders.forEach((alpha, i) => {
    const r = rdp[i];
    const epsilon = delta * delta + Math.expm1(-r) >= 0 ? 0 : alpha > 1.01 ? r + Math.log1p(-1 / alpha) - Math.log(delta * alpha) / (alpha - 1) : Infinity;
    if (epsilon < best.epsilon) best = { epsilon, order: alpha };
  });
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

/** What an accountant keeps between rounds: the RDP so far at each default order; plain JSON, stored with the job. */
export interface AccountantState {
  steps: number;
  rdp: number[];
}

export const emptyAccountant = (): AccountantState => ({ steps: 0, rdp: DEFAULT_ORDERS.map(() => 0) });

/** The state after `steps` more steps at sampling rate q and noise multiplier z. */
export function compose(state: AccountantState, q: number, noiseMultiplier: number, steps = 1): AccountantState {
  return { steps: state.steps + steps, rdp: state.rdp.map((r, i) => r + steps * stepRdp(q, noiseMultiplier, DEFAULT_ORDERS[i])) };
}

/**
 * Whether one more round keeps ε within the budget: a job asks this before it
 * opens the round, so it stops before it would exceed its budget, never after.
 */
export function roundFits(state: AccountantState, q: number, noiseMultiplier: number, delta: number, epsilonBudget: number | undefined, steps = 1): boolean {
  return epsilonBudget === undefined || epsilonFromRdp(compose(state, q, noiseMultiplier, steps).rdp, delta).epsilon <= epsilonBudget;
}
