/**
 * The in-process benchmarks: local training through the agent's trainer,
 * FedAvg folding through the coordinator's strategy, and update verification
 * through the coordinator's round engine.
 */
import { fedAvg } from '@fl/coordinator';
import { EMPTY_STATE, encodeWeights, initialParameters, randomNonce, sha256Hex, signHeader, type ModelShape, type UpdateHeader } from '@fl/shared';
import { trainLocal } from '@fl/participant-agent';
import { Federation } from './federation';
import { medianOf, now } from './measure';
import { logisticData } from './synthetic';

/** 100,000 x 100 float32 samples, 5 epochs, batch 256, SGD lr 0.1: samples x epochs per second of wall time. */
export async function trainBench(): Promise<Record<string, number>> {
  const n = 100_000;
  const d = 100;
  const epochs = 5;
  const shape: ModelShape = { kind: 'logistic', inputDim: d, outputDim: 1 };
  const { x, y } = logisticData(n, d, 12345);
  const options = { shape, params: initialParameters(shape), x, y, n, epochs, batchSize: 256, learningRate: 0.1, l2: 0, seed: 1 };
  const samplesPerSec = await medianOf(5, async () => {
    const started = now();
    await trainLocal(options);
    return (n * epochs) / ((now() - started) / 1000);
  });
  return { 'train.logistic.samplesPerSec': samplesPerSec };
}

/** 100 updates of 1,000,000 float32 folded into the weighted average (result included): update bytes read per second. */
export async function aggregateBench(): Promise<Record<string, number>> {
  const size = 1_000_000;
  const count = 100;
  // Distinct buffers, 400 MB in all, so the updates come from memory as they would off the network, not from cache.
  const updates = Array.from({ length: count }, (_, u) => {
    const w = new Float32Array(size);
    for (let i = 0; i < size; i++) w[i] = ((i * 7 + u * 13) % 1000) / 1000 - 0.5;
    return w;
  });
  const global = new Float32Array(size);
  const gbPerSec = await medianOf(5, () => {
    const started = now();
    const aggregation = fedAvg.aggregateTrain(global, EMPTY_STATE);
    updates.forEach((weights, u) => aggregation.add({ participant: `p${u}`, weights, numSamples: 100 + u, metrics: { trainLoss: 0.5 } }));
    if (!aggregation.result()) throw new Error('no aggregate');
    return (count * size * 4) / ((now() - started) / 1000) / 1e9;
  });
  return { 'aggregate.fedavg.gbPerSec': gbPerSec };
}

/**
 * Signed update messages through RoundEngine.submitUpdate, the path every
 * update takes after Socket.IO: schema, the participant's registered key from
 * the store, Ed25519 signature over the canonical header, participant, job. The
 * job named is not running, so each stops right after verification (UNKNOWN_JOB)
 * instead of being folded: only verification is timed.
 */
export async function verifyBench(): Promise<Record<string, number>> {
  const federation = await Federation.start();
  try {
    const [keys] = await federation.register('verify', 1);
    const weights = encodeWeights(new Float32Array(101));
    const messages = Array.from({ length: 2000 }, () => {
      const header: UpdateHeader = {
        type: 'update',
        job: '00000000-0000-4000-8000-000000000000',
        round: 1,
        participant: 'verify-1',
        nonce: randomNonce(),
        numSamples: 2000,
        metrics: { trainLoss: 0.5, trainAccuracy: 0.75 },
        weightsSha256: sha256Hex(weights),
      };
      return { header, signature: signHeader('update', header, keys.secretKey), weights };
    });
    const { engine } = federation.coordinator;
    const perSec = await medianOf(5, async () => {
      const started = now();
      // All at once, as when many participants answer a round together.
      const acks = await Promise.all(messages.map((message) => engine.submitUpdate('verify-1', message)));
      const elapsed = now() - started;
      for (const ack of acks) {
        if (ack.ok || ack.error.code !== 'UNKNOWN_JOB') throw new Error(`verification refused a valid update: ${JSON.stringify(ack)}`);
      }
      return messages.length / (elapsed / 1000);
    });
    return { 'verify.perSec': perSec };
  } finally {
    await federation.close();
  }
}
