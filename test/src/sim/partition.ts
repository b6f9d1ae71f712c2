/**
 * How the simulator divides a data set: a stratified held-out split first, then
 * the training rows among the parties (IID, label skew by a Dirichlet draw per
 * class, one party per value of a column, or size skew). Pure functions of row
 * positions and a seeded generator: the same seed always gives the same parts.
 */
import { parseNumber } from '@fl/participant-agent';

/** A uniform draw in [0, 1), such as seededRandom() from @fl/shared returns. */
export type Random = () => number;

export type PartitionSpec =
  | { kind: 'iid' }
  | { kind: 'dirichlet'; alpha: number }
  | { kind: 'column'; column: string }
  | { kind: 'quantity'; alpha: number };

export const PARTITION_FORMS = 'iid, dirichlet:ALPHA, column:NAME or quantity:ALPHA';

/** Reads `iid`, `dirichlet:0.5`, `column:Country` or `quantity:1`; throws an Error saying what is wrong. */
export function parsePartition(text: string): PartitionSpec {
  const colon = text.indexOf(':');
  const kind = colon < 0 ? text : text.slice(0, colon);
  const argument = colon < 0 ? undefined : text.slice(colon + 1);
  if (kind === 'iid' && argument === undefined) return { kind };
  if (kind === 'column' && argument) return { kind, column: argument };
  if ((kind === 'dirichlet' || kind === 'quantity') && argument !== undefined) {
    const alpha = parseNumber(argument);
    // Below 1e-300, 1/alpha (the exponent of a Gamma draw's boost) is no longer a finite number.
    if (alpha === undefined || alpha < 1e-300) {
      throw new Error(`the ${kind} concentration must be a positive number, at least 1e-300, not "${argument}"`);
    }
    return { kind, alpha };
  }
  throw new Error(`unknown partition "${text}"; use ${PARTITION_FORMS}`);
}

export function formatPartition(spec: PartitionSpec): string {
  switch (spec.kind) {
    case 'iid':
      return 'iid';
    case 'column':
      return `column:${spec.column}`;
    default:
      return `${spec.kind}:${spec.alpha}`;
  }
}

/** Fisher–Yates in place, driven by the given generator. */
export function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** Plain code-unit order, the order the coordinator sorts vocabularies in; localeCompare could differ between machines. */
export const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const ascending = (a: number, b: number) => a - b;

/** Positions grouped by key, the groups in code-unit order of their keys so that iteration never depends on row order. */
function groupBy(keys: readonly string[]): [string, number[]][] {
  const groups = new Map<string, number[]>();
  keys.forEach((key, i) => {
    const group = groups.get(key);
    if (group) group.push(i);
    else groups.set(key, [i]);
  });
  return [...groups].sort(([a], [b]) => byCodeUnits(a, b));
}

/**
 * Holds out round(fraction × size) of each stratum, chosen at random: the test
 * split then has the class balance of the whole. Positions are returned in
 * ascending order.
 */
export function stratifiedSplit(strata: readonly string[], fraction: number, random: Random): { train: number[]; test: number[] } {
  const train: number[] = [];
  const test: number[] = [];
  for (const [, positions] of groupBy(strata)) {
    shuffle(positions, random);
    const held = Math.round(positions.length * fraction);
    test.push(...positions.slice(0, held));
    train.push(...positions.slice(held));
  }
  return { train: train.sort(ascending), test: test.sort(ascending) };
}

/** Strata for a numeric target: its quantile bins, so that a split keeps the spread of the values. */
export function quantileStrata(values: readonly number[], bins: number): string[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b] || a - b);
  const strata = new Array<string>(values.length);
  order.forEach((position, rank) => (strata[position] = String(Math.floor((rank * bins) / values.length))));
  return strata;
}

/** n positions shuffled and dealt into k parts whose sizes differ by one at most. */
export function iidPartition(n: number, k: number, random: Random): number[][] {
  const order = shuffle(
    Array.from({ length: n }, (_, i) => i),
    random,
  );
  const parts = Array.from({ length: k }, (_, p) => order.slice(Math.floor((p * n) / k), Math.floor(((p + 1) * n) / k)));
  return parts.map((part) => part.sort(ascending));
}

/** A standard normal draw (Box–Muller); 1 − random() keeps the logarithm finite. */
export function normal(random: Random): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * A Gamma(shape, 1) draw by Marsaglia and Tsang's method (2000). For shape < 1 it
 * draws Gamma(shape + 1) and scales by U^(1/shape), their suggested boost.
 */
export function sampleGamma(shape: number, random: Random): number {
  return gammaDraw(shape, random).value;
}

/** The draw and its logarithm, from the same numbers: the logarithm stays finite where the draw underflows or its sum overflows. */
function gammaDraw(shape: number, random: Random): { value: number; log: number } {
  if (shape < 1) {
    const boost = gammaDraw(shape + 1, random);
    const u = 1 - random();
    return { value: boost.value * Math.pow(u, 1 / shape), log: boost.log + Math.log(u) / shape };
  }
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = normal(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return { value: d * v, log: Math.log(d) + Math.log(v) };
  }
}

/** Proportions drawn from a symmetric Dirichlet(alpha, …, alpha) over k parts: normalised Gamma draws. */
export function sampleDirichlet(alpha: number, k: number, random: Random): number[] {
  const draws = Array.from({ length: k }, () => gammaDraw(alpha, random));
  const sum = draws.reduce((a, g) => a + g.value, 0);
  if (sum > 0 && Number.isFinite(sum)) return draws.map((g) => g.value / sum);
  // A tiny alpha underflows every draw to 0, a huge one overflows their sum: normalised from the logarithms instead.
  const top = Math.max(...draws.map((g) => g.log));
  const scaled = draws.map((g) => Math.exp(g.log - top));
  const total = scaled.reduce((a, b) => a + b, 0);
  return scaled.map((x) => x / total);
}

/** Cuts the positions into consecutive runs whose lengths follow the proportions (cumulative rounding, so none is lost). */
function cut(positions: readonly number[], proportions: readonly number[]): number[][] {
  let cumulative = 0;
  let start = 0;
  return proportions.map((p, i) => {
    cumulative += p;
    const end = i === proportions.length - 1 ? positions.length : Math.round(cumulative * positions.length);
    const run = positions.slice(start, Math.max(start, end));
    start = Math.max(start, end);
    return run;
  });
}

/**
 * Skewed draws can leave a party (nearly) empty, and a party without rows cannot
 * take part in a round; such draws are made again, as is usual in the
 * literature (e.g. NIID-Bench), up to a bound.
 */
const MAX_DRAWS = 1000;

function drawUntilLargeEnough(minRows: number, what: string, draw: () => number[][]): number[][] {
  for (let attempt = 0; attempt < MAX_DRAWS; attempt++) {
    const parts = draw();
    if (parts.every((part) => part.length >= minRows)) return parts.map((part) => part.sort(ascending));
  }
  const short = minRows === 1 ? 'a party empty' : `a party with fewer than ${minRows} rows`;
  throw new Error(`${MAX_DRAWS} draws of ${what} all left ${short}; use fewer parties or a larger concentration`);
}

/**
 * Label skew: for each class, proportions over the k parties drawn from
 * Dirichlet(alpha), and that class's rows dealt out accordingly. A small alpha
 * gives each party a few dominant classes; a large one approaches IID.
 */
export function dirichletLabelPartition(labels: readonly string[], k: number, alpha: number, random: Random, minRows = 1): number[][] {
  const classes = groupBy(labels);
  return drawUntilLargeEnough(minRows, `dirichlet:${alpha}`, () => {
    const parts: number[][] = Array.from({ length: k }, () => []);
    for (const [, positions] of classes) {
      const runs = cut(shuffle([...positions], random), sampleDirichlet(alpha, k, random));
      runs.forEach((run, p) => parts[p].push(...run));
    }
    return parts;
  });
}

/** Size skew: party sizes in proportions drawn from Dirichlet(alpha), rows dealt at random. */
export function quantityPartition(n: number, k: number, alpha: number, random: Random, minRows = 1): number[][] {
  return drawUntilLargeEnough(minRows, `quantity:${alpha}`, () =>
    cut(
      shuffle(
        Array.from({ length: n }, (_, i) => i),
        random,
      ),
      sampleDirichlet(alpha, k, random),
    ),
  );
}

/**
 * One party per value of a column, in code-unit order of the values, for
 * example one per country. Rows where the column is missing (null) form a
 * party of their own, last: every row belongs to exactly one party.
 */
export function columnPartition(values: readonly (string | null)[]): { value: string | null; rows: number[] }[] {
  const missing: number[] = [];
  const present: string[] = [];
  const presentAt: number[] = [];
  values.forEach((value, i) => {
    if (value === null) missing.push(i);
    else {
      present.push(value);
      presentAt.push(i);
    }
  });
  const parts: { value: string | null; rows: number[] }[] = groupBy(present).map(([value, positions]) => ({
    value,
    rows: positions.map((p) => presentAt[p]),
  }));
  if (missing.length > 0) parts.push({ value: null, rows: missing });
  return parts;
}
