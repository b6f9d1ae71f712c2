/**
 * What a connection may cost before it has authenticated. Until a namespace's
 * handshake admits it (the agents' or the dashboards'), a connection may send
 * only a few kilobytes in all, must authenticate within a deadline, and counts
 * against a bound of such connections per address and in total; the default
 * namespace `/` admits nobody. Only an admitted connection gets the large frame
 * limit, so a stranger can neither pin memory nor hold the event loop with a
 * large frame.
 *
 * The count is of bytes read from the TCP socket, checked as they arrive: the
 * WebSocket library's own limit is one for every connection (the large one), and
 * a frame over the budget is cut off before it is buffered whole.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import type { Namespace, Server, Socket } from 'socket.io';
import type { ErrorBody } from '@fl/shared';
import type { Clock } from './clock';
import type { CoordinatorLogger } from '../logger';

export interface AdmissionLimits {
  /** bytes a connection may send before it authenticates */
  unauthenticatedBytes: number;
  /** how long a connection may take to authenticate */
  handshakeTimeoutMs: number;
  /** connections not yet authenticated, per remote address */
  pendingPerAddress: number;
  /** connections not yet authenticated, in all */
  pending: number;
}

interface Pending {
  address: string;
  socket: NetSocket;
  bytes: number;
  timer: unknown;
  onData: (chunk: Buffer) => void;
}

/** How long a closed connection's TCP socket may linger for a graceful close before it is cut. */
const CLOSE_GRACE_MS = 2_000;

/** The part of an Engine.IO connection this module uses. */
interface EngineConnection {
  request: IncomingMessage;
  once(event: 'close', listener: () => void): void;
  prependListener(event: 'data', listener: () => void): void;
}

export class SocketAdmission {
  private readonly pendingByRequest = new Map<IncomingMessage, Pending>();
  private readonly perAddress = new Map<string, number>();
  /** the connection whose data Socket.IO is decoding: decoding is synchronous, so a budget exceeded is this one's */
  private decoding: EngineConnection | undefined;

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly clock: Clock,
    private readonly log: CoordinatorLogger,
  ) {}

  /** Connections that have not authenticated yet. */
  get pendingCount(): number {
    return this.pendingByRequest.size;
  }

  /** Engine.IO's `allowRequest`: a new connection is let in only within the bounds, and starts pending. */
  readonly allowRequest = (request: IncomingMessage, callback: (message: string | null | undefined, success: boolean) => void): void => {
    const socket = request.socket;
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.pendingPerAddress || this.pendingByRequest.size >= this.limits.pending) {
      const scope = fromAddress >= this.limits.pendingPerAddress ? `from ${address}` : 'in all';
      this.log.warn(`refused a connection from ${address}: too many connections not yet authenticated ${scope}`);
      return callback('too many connections that have not authenticated yet; retry later', false);
    }
    const pending: Pending = {
      address,
      socket,
      bytes: 0,
      timer: this.clock.setTimeout(() => this.cut(request, `not authenticated within ${this.limits.handshakeTimeoutMs / 1000}s`), this.limits.handshakeTimeoutMs),
      onData: (chunk) => {
        pending.bytes += chunk.length;
        if (pending.bytes > this.limits.unauthenticatedBytes) this.cut(request, `sent ${pending.bytes} bytes before authenticating, over ${this.limits.unauthenticatedBytes}`);
      },
    };
    this.pendingByRequest.set(request, pending);
    this.perAddress.set(address, fromAddress + 1);
    socket.on('data', pending.onData);
    socket.once('close', () => this.release(request));
    callback(null, true);
  };

  /** Wires the server: `/` refused, an admitted socket's connection no longer pending, a closed one's TCP socket freed. */
  attach(server: Server): void {
    const refusal: ErrorBody = { code: 'NOT_FOUND', message: 'no namespace here: agents connect to /agents, dashboards to /admin' };
    server.of('/').use((_socket, next) => next(Object.assign(new Error(refusal.message), { data: refusal })));
    const admit = (socket: Socket) => this.release(socket.conn.request);
    server.on('new_namespace', (namespace: Namespace) => namespace.on('connection', admit));
    server.engine.on('connection', (conn: EngineConnection) => {
      conn.prependListener('data', () => (this.decoding = conn));
      // Once Engine.IO closed it (a refusal, the end of a session), the peer gets a moment to close cleanly, then the socket goes.
      conn.once('close', () => setTimeout(() => conn.request.socket.destroy(), CLOSE_GRACE_MS).unref());
    });
  }

  /** Cuts the connection being decoded, which went over its budget for unfinished packets: nothing more of it is read. */
  cutDecoding(why: string): void {
    const socket = this.decoding?.request.socket;
    this.log.warn(`closed a connection from ${socket?.remoteAddress ?? 'unknown'}: ${why}`);
    socket?.destroy();
  }

  private cut(request: IncomingMessage, why: string): void {
    const pending = this.pendingByRequest.get(request);
    if (!pending) return;
    this.log.warn(`closed a connection from ${pending.address}: ${why}`);
    this.release(request);
    pending.socket.destroy();
  }

  /** The connection authenticated or closed: it is no longer pending. */
  private release(request: IncomingMessage): void {
    const pending = this.pendingByRequest.get(request);
    if (!pending) return;
    this.pendingByRequest.delete(request);
    this.clock.clearTimeout(pending.timer);
    pending.socket.off('data', pending.onData);
    const left = (this.perAddress.get(pending.address) ?? 1) - 1;
    if (left > 0) this.perAddress.set(pending.address, left);
    else this.perAddress.delete(pending.address);
  }
}
