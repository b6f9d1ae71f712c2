/**
 * A strategy turns the updates of one round into the next global model. It sees
 * updates one at a time as they arrive (FedAvg folds them into a running sum, so
 * memory does not grow with participants); a strategy that needs every update at
 * once (median, Krum) keeps them itself. Pure: no Nest, no sockets, no store.
 */
export interface ClientUpdate {
  participant: string;
  weights: Float32Array;
  numSamples: number;
  metrics: Record<string, number>;
}

export interface AggregateResult {
  weights: Float32Array;
  /** hex SHA-256 of the weights' bytes (encodeWeights), the digest the round's record and requests name */
  sha256: string;
  /** sample-weighted means of the metrics the contributors reported */
  metrics: Record<string, number>;
  numSamples: number;
}

export interface RoundAggregation {
  /** Takes one accepted update; its weights do not change afterwards, so a strategy may keep them until result(). */
  add(update: ClientUpdate): void;
  /** The aggregate, or null when no update came: the previous global model stays. */
  result(): AggregateResult | null;
}

export interface Strategy {
  readonly name: string;
  begin(global: Float32Array): RoundAggregation;
}
