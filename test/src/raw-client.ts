/**
 * A hand-driven Socket.IO client speaking the agent protocol without the agent's
 * safeguards, to send what a faulty or malicious participant would.
 */
import { io, type Socket } from 'socket.io-client';
import { Encoder as SocketIoEncoder } from 'socket.io-parser';
import {
  AGENT_NAMESPACE,
  encodeKey,
  packetCodec,
  encodeWeights,
  randomNonce,
  sha256Hex,
  signHeader,
  type Ack,
  type ErrorBody,
  type KeyPair,
  type TrainMessage,
  type UpdateHeader,
} from '@fl/shared';

export function handshakeAuth(keys: KeyPair, change: { timestamp?: number; signWith?: KeyPair } = {}) {
  const header = {
    type: 'handshake' as const,
    publicKey: encodeKey(keys.publicKey),
    timestamp: change.timestamp ?? Date.now(),
    nonce: randomNonce(),
  };
  return { header, signature: signHeader('handshake', header, (change.signWith ?? keys).secretKey) };
}

/** Connects once with the given auth; resolves with the socket, or with the refusal's error body. */
export function connectRaw(url: string, auth: unknown): Promise<{ socket: Socket; refused?: ErrorBody }> {
  const socket = io(new URL(AGENT_NAMESPACE, url).toString(), {
    auth: auth as Record<string, unknown>,
    transports: ['websocket'],
    // Sends as Socket.IO does by default (the coordinator reads both), reads the coordinator's one-frame packets.
    parser: { Encoder: SocketIoEncoder, Decoder: packetCodec.Decoder },
    reconnection: false,
    forceNew: true,
  });
  return new Promise((resolve) => {
    // A handshake the server never answers must not hang the caller.
    const timer = setTimeout(() => {
      socket.close();
      resolve({ socket, refused: { code: 'TIMEOUT', message: 'no answer to the handshake' } });
    }, 10_000);
    // A malformed handshake packet makes the server close the transport without a connect_error.
    socket.io.on('close', (reason) => {
      // 'forced close' is the client's own doing, e.g. just before it reports a connect_error.
      if (reason === 'forced close') return;
      clearTimeout(timer);
      socket.close();
      resolve({ socket, refused: { code: 'INVALID_FRAME', message: `connection closed: ${reason}` } });
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({ socket });
    });
    socket.once('connect_error', (err: Error & { data?: ErrorBody }) => {
      clearTimeout(timer);
      resolve({ socket, refused: err.data ?? { code: 'INTERNAL', message: err.message } });
      socket.close();
    });
  });
}

export function emitWithAck(socket: Socket, event: string, message: unknown): Promise<Ack> {
  return socket.timeout(30_000).emitWithAck(event, message) as Promise<Ack>;
}

/** An update answering a train message, with any part changed; signed with `keys` unless told otherwise. */
export function craftUpdate(
  train: TrainMessage,
  participant: string,
  keys: KeyPair,
  change: { header?: Partial<UpdateHeader>; weights?: Float32Array; signWith?: KeyPair; sha256?: string } = {},
) {
  const weights = encodeWeights(change.weights ?? new Float32Array(new Uint8Array(train.weights as Uint8Array).buffer));
  const header: UpdateHeader = {
    type: 'update',
    job: train.header.job,
    round: train.header.round,
    participant,
    nonce: randomNonce(),
    numSamples: 10,
    metrics: { trainLoss: 0.5 },
    weightsSha256: change.sha256 ?? sha256Hex(weights),
    ...change.header,
  };
  return { header, signature: signHeader('update', header, (change.signWith ?? keys).secretKey), weights };
}
