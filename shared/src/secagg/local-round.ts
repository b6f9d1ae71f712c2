/**
 * One secure-aggregation round with every party in this process, messages
 * passed as the coordinator would relay them: the reference the tests check the
 * protocol against and the benchmark times. `drop` names parties that go silent
 * at a stage: before sharing keys, after sharing (no masked input), or during
 * unmasking (no response).
 */
import { randomBytes } from 'node:crypto';
import type { KeyPair } from '../crypto/keys';
import { neighbourGraph } from './graph';
import { SecAggClient, unmaskSum, type Advertisement, type EncryptedShare, type UnmaskMaterial, type UnmaskRequest } from './protocol';

export interface LocalRoundOptions {
  job: string;
  round: number;
  neighbours: number;
  threshold: number;
  /** each party's identity key pair and ring input */
  parties: Map<string, { identity: KeyPair; input: Uint32Array }>;
  drop?: { beforeSharing?: string[]; afterSharing?: string[]; duringUnmask?: string[] };
  /** words per ring element (ring.addInto) */
  width?: number;
  /** shares sealed as garbage of the right length, as a dishonest dealer (or relay) would: from a dealer to a neighbour */
  garble?: { from: string; to: string }[];
}

export async function runLocalRound(o: LocalRoundOptions): Promise<{ sum: Uint32Array; material: UnmaskMaterial }> {
  const ids = [...o.parties.keys()].sort();
  const graph = neighbourGraph(ids, o.neighbours);
  const identity = (id: string) => o.parties.get(id)?.identity.publicKey;
  const clients = new Map(ids.map((id) => [id, new SecAggClient({ job: o.job, round: o.round }, id, o.parties.get(id)!.identity.secretKey, o.threshold)]));
  const adverts = new Map<string, Advertisement>(ids.map((id) => [id, clients.get(id)!.advertise()]));
  const beforeSharing = new Set(o.drop?.beforeSharing);
  const sharers = ids.filter((id) => !beforeSharing.has(id));
  const inbox = new Map<string, EncryptedShare[]>(ids.map((id) => [id, []]));
  for (const id of sharers) {
    const neighbours = graph.get(id)!;
    const shares = await clients.get(id)!.shareKeys(neighbours.filter((n) => !beforeSharing.has(n)).map((n) => adverts.get(n)!), neighbours, identity);
    for (const share of shares) {
      const garbled = o.garble?.some((g) => g.from === id && g.to === share.destination);
      inbox.get(share.destination)!.push(garbled ? { ...share, ciphertext: randomBytes(Buffer.from(share.ciphertext, 'base64').length).toString('base64') } : share);
    }
  }
  const afterSharing = new Set(o.drop?.afterSharing);
  const maskedInputs: Record<string, Uint32Array> = {};
  for (const id of sharers) {
    if (afterSharing.has(id)) continue;
    const client = clients.get(id)!;
    client.receiveShares(inbox.get(id)!);
    maskedInputs[id] = client.maskedInput(o.parties.get(id)!.input, o.width);
  }
  const survivors = Object.keys(maskedInputs).sort();
  const request: UnmaskRequest = { job: o.job, round: o.round, survivors, dropped: sharers.filter((id) => !(id in maskedInputs)) };
  const duringUnmask = new Set(o.drop?.duringUnmask);
  const responses = survivors.filter((id) => !duringUnmask.has(id)).map((id) => clients.get(id)!.unmask(request));
  const material: UnmaskMaterial = {
    job: o.job,
    round: o.round,
    participants: ids,
    neighbours: o.neighbours,
    threshold: o.threshold,
    adverts: [...adverts.values()],
    sharers,
    maskedInputs,
    responses,
    ...(o.width !== undefined && { width: o.width }),
  };
  return { sum: await unmaskSum(material), material };
}
