/**
 * A hand-driven Socket.IO client speaking the agent protocol without the agent's
 * safeguards, to send what a faulty or malicious participant would.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { io, type Socket } from 'socket.io-client';
import { Encoder as SocketIoEncoder } from 'socket.io-parser';
import {
  AGENT_NAMESPACE,
  encodeKey,
  packetCodec,
  PROTOCOL_VERSION,
  encodeWeights,
  randomNonce,
  sha256Hex,
  signHeader,
  type Ack,
  type ErrorBody,
  type JobSpec,
  type KeyPair,
  type SetupHeader,
  type TrainMessage,
  type UpdateHeader,
} from '@fl/shared';

export function handshakeAuth(keys: KeyPair, change: { timestamp?: number; signWith?: KeyPair } = {}) {
  const header = {
    type: 'handshake' as const,
    protocol: PROTOCOL_VERSION,
    publicKey: encodeKey(keys.publicKey),
    timestamp: change.timestamp ?? Date.now(),
    nonce: randomNonce(),
  };
  return { header, signature: signHeader('handshake', header, (change.signWith ?? keys).secretKey) };
}

/** Connects once with the given auth (from `localAddress`, if given); resolves with the socket, or with the refusal's error body. */
export function connectRaw(url: string, auth: unknown, localAddress?: string, headers?: Record<string, string>): Promise<{ socket: Socket; refused?: ErrorBody }> {
  const socket = io(new URL(AGENT_NAMESPACE, url).toString(), {
    auth: auth as Record<string, unknown>,
    // Passed on to the WebSocket library, which binds the socket to it; not in socket.io-client's types.
    ...(localAddress ? ({ localAddress } as object) : {}),
    // Sent with the WebSocket upgrade, as a reverse proxy adds X-Forwarded-For.
    ...(headers && { extraHeaders: headers }),
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

/**
 * A WebSocket spoken by hand over a TCP socket, as an attacker would: it can
 * announce a frame of any length and then send its bytes a piece at a time
 * from one small buffer, so that the test process spends nothing while the
 * coordinator is offered hundreds of megabytes. Frames from the coordinator
 * (small text ones: Engine.IO and Socket.IO packets) are collected as text.
 */
export class HandWebSocket {
  readonly received: string[] = [];
  readonly closed: Promise<void>;
  /** bytes written on the socket, headers included */
  sent = 0;
  private readonly socket: net.Socket;
  private pending = Buffer.alloc(0);
  private upgraded = false;
  private readonly listeners: (() => void)[] = [];
  /** the HTTP status when the upgrade was refused */
  refusedStatus: number | undefined;

  private constructor(url: string, localAddress?: string) {
    const { hostname, port } = new URL(url);
    this.socket = net.connect({ host: hostname, port: Number(port), localAddress });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('data', (chunk: Buffer) => this.take(chunk));
    const key = randomBytes(16).toString('base64');
    this.socket.write(
      `GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  }

  /** Opens one; resolves once the Engine.IO connection is open (its first packet arrived), or refused. */
  static async open(url: string, localAddress?: string): Promise<HandWebSocket> {
    const ws = new HandWebSocket(url, localAddress);
    await Promise.race([ws.waitFor((t) => t.startsWith('0{')).catch(() => undefined), ws.closed]);
    return ws;
  }

  get isOpen(): boolean {
    return !this.socket.destroyed && this.upgraded;
  }

  /** Resolves when a text frame matching `accept` has arrived (or the socket closed: then it rejects). */
  waitFor(accept: (text: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.received.find(accept);
        if (found !== undefined) return resolve(found), true;
        if (this.socket.destroyed) return reject(new Error(`closed; received ${JSON.stringify(this.received)}`)), true;
        return false;
      };
      if (check()) return;
      const listener = () => {
        if (check()) this.listeners.splice(this.listeners.indexOf(listener), 1);
      };
      this.listeners.push(listener);
      void this.closed.then(listener);
    });
  }

  /** One text frame, e.g. an Engine.IO message "4" + a Socket.IO packet. */
  sendText(text: string): Promise<void> {
    const payload = Buffer.from(text, 'utf8');
    return this.write(Buffer.concat([HandWebSocket.header(0x1, payload.length), payload]));
  }

  /** A binary frame of `bytes` zeros, header first, then in 64 KiB pieces; stops when the coordinator closes. */
  async sendBinary(bytes: number): Promise<void> {
    await this.write(HandWebSocket.header(0x2, bytes));
    for (let left = bytes; left > 0 && !this.socket.destroyed; left -= ZEROS.length) await this.write(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
  }

  close(): void {
    this.socket.destroy();
  }

  /** A frame header, masked with a zero mask (the payload goes as it is). */
  private static header(opcode: number, length: number): Buffer {
    if (length < 126) return Buffer.from([0x80 | opcode, 0x80 | length, 0, 0, 0, 0]);
    if (length < 65536) {
      const header = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0, 0, 0, 0, 0]);
      header.writeUInt16BE(length, 2);
      return header;
    }
    const header = Buffer.alloc(14);
    header[0] = 0x80 | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
    return header;
  }

  private write(bytes: Buffer): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    this.sent += bytes.length;
    return new Promise((resolve) => {
      if (this.socket.write(bytes)) return resolve();
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Reads the upgrade answer, then the coordinator's (unmasked) frames. */
  private take(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    if (!this.upgraded) {
      const end = this.pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(this.pending.subarray(0, end).toString('latin1'))?.[1]);
      if (status !== 101) {
        this.refusedStatus = status;
        this.socket.destroy();
        return;
      }
      this.upgraded = true;
      this.pending = this.pending.subarray(end + 4);
    }
    for (;;) {
      if (this.pending.length < 2) break;
      let length = this.pending[1] & 0x7f;
      let at = 2;
      if (length === 126) {
        if (this.pending.length < 4) break;
        length = this.pending.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (this.pending.length < 10) break;
        length = Number(this.pending.readBigUInt64BE(2));
        at = 10;
      }
      if (this.pending.length < at + length) break;
      const opcode = this.pending[0] & 0x0f;
      if (opcode === 0x1) this.received.push(this.pending.subarray(at, at + length).toString('utf8'));
      this.pending = this.pending.subarray(at + length);
    }
    for (const listener of [...this.listeners]) listener();
  }
}

const ZEROS = Buffer.alloc(64 * 1024);

/** A stand-in coordinator's setup of a logistic job over two standardized numeric columns, x1 and x2, of 20 rows. */
export function twoColumnSetup(job: string, spec: JobSpec): SetupHeader {
  return {
    type: 'setup',
    job,
    spec,
    preprocessing: {
      features: [
        { name: 'x1', type: 'numeric', mean: 0, std: 1 },
        { name: 'x2', type: 'numeric', mean: 0, std: 1 },
      ],
      target: { type: 'binary', classes: ['no', 'yes'] },
      inputDim: 2,
      rows: 20,
    },
    model: { kind: 'logistic', inputDim: 2, outputDim: 1 },
  };
}

/** What a stand-in coordinator sends a socket.io server-side socket: a welcome signed with `coordinator`, for site-a; `change` alters its header. */
export function stubWelcome(handshakeAuth: unknown, coordinator: KeyPair, change: Record<string, unknown> = {}) {
  const header = {
    type: 'welcome' as const,
    protocol: PROTOCOL_VERSION,
    participant: 'site-a',
    coordinatorKey: encodeKey(coordinator.publicKey),
    handshakeNonce: (handshakeAuth as { header: { nonce: string } }).header.nonce,
    serverTime: Date.now(),
    maxFrameBytes: 1 << 20,
    maxMessageBytes: 1 << 24,
    ...change,
  };
  return { header, signature: signHeader('welcome', header as never, coordinator.secretKey) };
}
