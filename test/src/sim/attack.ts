/**
 * Dishonest parties for the simulator: `--attack KIND[:PARAM] --attackers K`
 * makes the first K parties attack in every round. An attacker is a real agent
 * whose outgoing statistics and updates are rewritten and signed again with its
 * own key just before they leave, so each attack travels the real protocol path
 * and only the coordinator's checks stand between it and the global model.
 */
import {
  decodeWeights,
  encodeWeights,
  seededRandom,
  sha256Hex,
  signHeader,
  toBytes,
  TrainMessageSchema,
  type KeyPair,
  type LocalStatistics,
  type StatisticsHeader,
  type UpdateHeader,
} from '@fl/shared';
import { parseNumber, type ParticipantAgent } from '@fl/participant-agent';
import { normal, type Random } from './partition';

/** Every kind, with what its parameter means and its default; `--help` and the docs list them from here. */
export const ATTACK_KINDS = {
  'sign-flip': { param: 'S', default: 1, help: 'the global model minus S times the honest difference' },
  scale: { param: 'S', default: 10, help: 'the global model plus S times the honest difference' },
  gaussian: { param: 'SIGMA', default: 1, help: 'random weights, normal with deviation SIGMA' },
  'inflate-samples': { param: 'N', default: 1e9, help: 'claims N rows in its statistics (counts scaled alike) and N samples in its updates' },
  'label-flip': { param: undefined, default: undefined, help: 'trains on flipped labels (class i of k becomes k-1-i; a numeric target is mirrored)' },
  nan: { param: undefined, default: undefined, help: 'weights that are all NaN' },
  'huge-weights': { param: 'V', default: 3e38, help: 'finite weights of V everywhere' },
  'huge-sums': { param: 'V', default: 1e300, help: 'statistics whose numeric sums and sums of squares are V' },
  'extra-class': { param: undefined, default: undefined, help: 'statistics with one row of a target class no other party has' },
  'shift-means': { param: 'S', default: 100, help: 'statistics whose numeric means are S of their own standard deviations higher (counts and spreads kept)' },
} as const;
export type AttackKind = keyof typeof ATTACK_KINDS;

export interface Attack {
  kind: AttackKind;
  /** the kind's parameter; absent for kinds that have none */
  param?: number;
}

export function parseAttack(text: string): Attack {
  const [kind, value, ...rest] = text.split(':');
  if (!(kind in ATTACK_KINDS) || rest.length > 0) throw new Error(`unknown attack "${text}"; one of ${Object.keys(ATTACK_KINDS).join(', ')}`);
  const known = ATTACK_KINDS[kind as AttackKind];
  if (known.param === undefined) {
    if (value !== undefined) throw new Error(`${kind} takes no parameter`);
    return { kind: kind as AttackKind };
  }
  if (value === undefined) return { kind: kind as AttackKind, param: known.default };
  const param = parseNumber(value);
  if (param === undefined) throw new Error(`${kind}:${known.param} needs a finite number, not "${value}"`);
  if ((kind === 'gaussian' || kind === 'inflate-samples') && param <= 0) throw new Error(`${kind}:${known.param} must be above 0`);
  if (kind === 'inflate-samples' && !Number.isSafeInteger(param)) throw new Error('inflate-samples:N must be a whole number');
  return { kind: kind as AttackKind, param };
}

export function formatAttack(attack: Attack): string {
  return attack.param === undefined ? attack.kind : `${attack.kind}:${attack.param}`;
}

/**
 * The rows a label-flip attacker trains on: class i of the sorted classes
 * becomes class k-1-i; a numeric target is mirrored within its range.
 */
export function flipLabels(values: string[], classes: readonly string[]): string[] {
  if (classes.length > 0) {
    const sorted = [...classes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return values.map((v) => {
      const i = sorted.indexOf(v.trim());
      return i < 0 ? v : sorted[sorted.length - 1 - i];
    });
  }
  const numbers = values.map(Number);
  const [min, max] = [Math.min(...numbers), Math.max(...numbers)];
  return numbers.map((y) => String(min + max - y));
}

/** Scales a count to a new total, keeping the parts whole and their sum exact. */
function scaleCounts(parts: number[], total: number): number[] {
  const before = parts.reduce((a, b) => a + b, 0);
  if (before === 0) return parts.map((_, i) => (i === 0 ? total : 0));
  const scaled = parts.map((n) => Math.floor((n * total) / before));
  scaled[scaled.indexOf(Math.max(...scaled))] += total - scaled.reduce((a, b) => a + b, 0);
  return scaled;
}

/** The statistics an attacker reports instead of its own. */
export function attackStatistics(stats: LocalStatistics, attack: Attack): LocalStatistics {
  switch (attack.kind) {
    case 'inflate-samples': {
      // Consistent counts and sums, so that only the row count itself is implausible.
      const rows = attack.param!;
      const f = rows / Math.max(stats.rows, 1);
      return {
        rows,
        features: stats.features.map((feature) => {
          if (feature.type === 'numeric') {
            const [count, missing] = scaleCounts([feature.count, feature.missing], rows);
            const g = count / Math.max(feature.count, 1);
            return { ...feature, count, missing, sum: feature.sum * g, sumSquares: feature.sumSquares * g };
          }
          const scaled = scaleCounts([...feature.counts.map(([, n]) => n), feature.missing], rows);
          return { ...feature, counts: feature.counts.map(([v], i): [string, number] => [v, scaled[i]]), missing: scaled.at(-1)! };
        }),
        target:
          stats.target.type === 'numeric'
            ? { ...stats.target, count: rows, sum: stats.target.sum * f, sumSquares: stats.target.sumSquares * f }
            : stats.target.type === 'none'
              ? stats.target
              : { type: 'categorical', counts: ((c) => c.map(([v], i): [string, number] => [v, scaleCounts(c.map(([, n]) => n), rows)[i]]))(stats.target.counts) },
      };
    }
    case 'shift-means': {
      // Each numeric column's mean moved by S of its own deviations, its count and spread kept: within the coordinator's
      // bound of 1000 median deviations for S below 1000, and every site standardizes with the pooled moments.
      const shift = <M extends { count: number; sum: number; sumSquares: number }>(m: M): M => {
        if (m.count === 0) return m;
        const mean = m.sum / m.count;
        const variance = Math.max(0, m.sumSquares / m.count - mean * mean);
        const moved = mean + attack.param! * Math.sqrt(variance);
        return { ...m, sum: moved * m.count, sumSquares: m.count * (variance + moved * moved) };
      };
      return { ...stats, features: stats.features.map((f) => (f.type === 'numeric' ? shift(f) : f)) };
    }
    case 'huge-sums':
      return {
        ...stats,
        features: stats.features.map((f) => (f.type === 'numeric' ? { ...f, sum: attack.param!, sumSquares: attack.param! } : f)),
      };
    case 'extra-class': {
      if (stats.target.type !== 'categorical') return stats;
      // One row of the largest class becomes a class nobody else has: the counts still add up.
      const counts = stats.target.counts.map(([v, n]): [string, number] => [v, n]);
      const largest = counts.reduce((best, c, i) => (c[1] > counts[best][1] ? i : best), 0);
      counts[largest][1] -= 1;
      return { ...stats, target: { type: 'categorical', counts: [...counts, ['attack-class', 1]] } };
    }
    default:
      return stats;
  }
}

/** The weights an attacker sends, from the global model it was sent and the update it trained honestly. */
export function attackWeights(global: Float32Array, honest: Float32Array, attack: Attack, random: Random): Float32Array {
  const out = new Float32Array(honest.length);
  for (let i = 0; i < out.length; i++) {
    const diff = honest[i] - global[i];
    switch (attack.kind) {
      case 'sign-flip':
        out[i] = global[i] - attack.param! * diff;
        break;
      case 'scale':
        out[i] = global[i] + attack.param! * diff;
        break;
      case 'gaussian':
        out[i] = attack.param! * normal(random);
        break;
      case 'nan':
        out[i] = NaN;
        break;
      case 'huge-weights':
        out[i] = attack.param!;
        break;
      default:
        out[i] = honest[i];
    }
  }
  return out;
}

/**
 * Turns a running agent into an attacker: its statistics and updates are
 * rewritten and signed again with its key on their way out. `seed` makes the
 * random weights of `gaussian` the same from run to run.
 */
export function arm(agent: ParticipantAgent, keys: KeyPair, attack: Attack, seed: number): void {
  const socket = agent.socket as unknown as { on(event: string, fn: (m: unknown) => void): void; emit(event: string, ...args: unknown[]): unknown };
  // The global model of each round, as sent: the honest difference is measured from it.
  const globals = new Map<string, Float32Array>();
  socket.on('train', (message) => {
    const parsed = TrainMessageSchema.safeParse(message);
    const weights = parsed.success ? decodeWeights(toBytes(parsed.data.weights)) : null;
    if (parsed.success && weights) globals.set(`${parsed.data.header.job} ${parsed.data.header.round}`, weights);
  });
  const emit = socket.emit.bind(socket);
  socket.emit = (event: string, ...args: unknown[]) => {
    if (event === 'chunk') throw new Error('fl-sim cannot attack with a message sent in pieces; the model is larger than a frame');
    if (event === 'statistics') {
      const { header } = args[0] as { header: StatisticsHeader };
      const changed = { ...header, statistics: attackStatistics(header.statistics, attack) };
      args[0] = { header: changed, signature: signHeader('statistics', changed, keys.secretKey) };
    }
    if (event === 'update') {
      const message = args[0] as { header: UpdateHeader; weights: Uint8Array };
      const { header } = message;
      const global = globals.get(`${header.job} ${header.round}`);
      if (!global) throw new Error(`fl-sim: no global model of round ${header.round} to attack from`);
      const weights = encodeWeights(attackWeights(global, decodeWeights(toBytes(message.weights))!, attack, seededRandom(seed * 1_000_003 + header.round)));
      const changed: UpdateHeader = {
        ...header,
        weightsSha256: sha256Hex(weights),
        ...(attack.kind === 'inflate-samples' && { numSamples: attack.param! }),
      };
      args[0] = { header: changed, signature: signHeader('update', changed, keys.secretKey), weights };
    }
    return emit(event, ...args);
  };
}
