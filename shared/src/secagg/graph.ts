/**
 * The SecAgg+ neighbour graph (Bell et al. 2020): each party masks with, and
 * shares its secrets among, k neighbours rather than all n − 1 others, so the
 * work per party grows with k, not n. The graph is a Harary ring over the
 * sorted participant ids: party i's neighbours are the k/2 ids before and after
 * it; everyone derives the same graph from the round's list alone.
 */
import { SecAggError } from './errors';

export function neighbourGraph(parties: readonly string[], k: number): Map<string, string[]> {
  const ids = [...new Set(parties)].sort();
  if (ids.length !== parties.length) throw new SecAggError('SECAGG_PHASE', 'a participant appears twice in the round');
  const n = ids.length;
  const graph = new Map<string, string[]>();
  if (k >= n - 1) {
    for (const id of ids) graph.set(id, ids.filter((other) => other !== id));
    return graph;
  }
  if (k < 2 || k % 2 !== 0) throw new SecAggError('SECAGG_TOO_FEW_NEIGHBOURS', `the neighbour count must be even and at least 2, not ${k}`);
  ids.forEach((id, i) => {
    const near: string[] = [];
    for (let step = 1; step <= k / 2; step++) near.push(ids[(i - step + n) % n], ids[(i + step) % n]);
    graph.set(id, near.sort());
  });
  return graph;
}

/** The sign a party puts on the pairwise mask it shares with `other`: + for the smaller id, − for the larger, so each pair cancels. */
export const maskSign = (self: string, other: string): 1 | -1 => (self < other ? 1 : -1);

/** The parties of `live` with fewer than t neighbours in `live`: too few to hold their shares, or to give them theirs. */
export function shortOfNeighbours(graph: ReadonlyMap<string, readonly string[]>, live: ReadonlySet<string>, threshold: number): string[] {
  return [...live].filter((p) => (graph.get(p) ?? []).filter((q) => live.has(q)).length < threshold);
}

/**
 * The parties of `live` that can share their secrets: each keeps at least t
 * neighbours in the set once those that cannot are left out, which may leave
 * their neighbours short in turn.
 */
export function sharingParties(graph: ReadonlyMap<string, readonly string[]>, live: Iterable<string>, threshold: number): Set<string> {
  const kept = new Set(live);
  for (let short = shortOfNeighbours(graph, kept, threshold); short.length > 0; short = shortOfNeighbours(graph, kept, threshold)) {
    for (const p of short) kept.delete(p);
  }
  return kept;
}
