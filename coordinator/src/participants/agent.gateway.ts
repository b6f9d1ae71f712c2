/**
 * The agents' Socket.IO namespace. Thin: it authenticates the handshake, keeps
 * the connection registry, and hands each message to the round engine, whose
 * answer is the ack.
 */
import { Inject } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
  type OnGatewayDisconnect,
  type OnGatewayInit,
} from '@nestjs/websockets';
import proxyaddr from 'proxy-addr';
import type { Namespace } from 'socket.io';
import { ackError, AGENT_NAMESPACE, ChunkedSchema, FlError, jsonSizeOf, PROTOCOL_VERSION, TransferAssembler, type Ack, type ErrorBody } from '@fl/shared';
import { CoordinatorIdentity } from '../identity/identity';
import { RoundEngine } from '../rounds/round-engine';
import { AgentConnections, type AgentSocket } from './connections';
import { HandshakeVerifier, REFUSAL_WINDOW_MS } from './handshake';
import { CoordinatorLogger } from '../logger';
import { Metrics } from '../core/metrics';
import { COORDINATOR_CONFIG, trusts, type CoordinatorConfig } from '../config/config';
import { AgentRelay } from '../cluster/agent-relay';

/** The events an agent may send; anything else is a refusal. */
const AGENT_EVENTS = new Set(['statistics', 'update', 'evaluation', 'failure', 'secagg', 'chunk', 'chunked']);

/**
 * A refused message counts once against its participant, and once more per
 * MiB of JSON the coordinator had to read of it: reading is what a refusal
 * costs, so a participant cannot make it read gigabytes of junk a minute.
 */
const REFUSAL_UNIT_BYTES = 1 << 20;
const refusalWeight = (body: unknown): number => 1 + Math.floor((jsonSizeOf(body) ?? 0) / REFUSAL_UNIT_BYTES);

@WebSocketGateway({ namespace: AGENT_NAMESPACE })
export class AgentGateway implements OnGatewayInit<Namespace>, OnGatewayConnection<AgentSocket>, OnGatewayDisconnect<AgentSocket> {
  constructor(
    @Inject(RoundEngine) private readonly engine: RoundEngine,
    @Inject(AgentConnections) private readonly connections: AgentConnections,
    @Inject(HandshakeVerifier) private readonly handshakes: HandshakeVerifier,
    @Inject(CoordinatorIdentity) private readonly identity: CoordinatorIdentity,
    @Inject(CoordinatorLogger) private readonly log: CoordinatorLogger,
    @Inject(COORDINATOR_CONFIG) private readonly config: CoordinatorConfig,
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(AgentRelay) private readonly relay: AgentRelay,
  ) {}

  afterInit(namespace: Namespace): void {
    this.relay.attach(namespace, this.engine);
    const trust = this.config.trustProxy === undefined ? undefined : trusts(this.config.trustProxy);
    namespace.use(async (socket, next) => {
      // Through a trusted proxy, the client its X-Forwarded-For names, as req.ip is for REST.
      const address = trust ? proxyaddr(socket.request, trust) : socket.handshake.address;
      try {
        const { participant, handshake } = await this.handshakes.verify(socket.handshake.auth, Date.now(), address);
        socket.data = {
          participant: participant.name,
          publicKey: participant.publicKey,
          handshakeNonce: handshake.header.nonce,
          transfers: new TransferAssembler(this.config.maxMessageBytes, ChunkedSchema),
          setups: new Set(),
        };
        next();
      } catch (err) {
        const body: ErrorBody =
          err instanceof FlError ? err.toBody() : { code: 'INTERNAL', message: 'handshake failed unexpectedly' };
        if (!(err instanceof FlError)) this.log.error(`handshake: ${(err as Error).stack}`);
        // The failures that led to a rate limit were each logged; the attempts it refuses are counted only, or a client retrying in a loop writes the log.
        this.log.log(body.code === 'RATE_LIMITED' ? 'debug' : 'warn', `refused a handshake from ${address}: ${body.code} ${body.message}`);
        this.metrics.handshakeFailures.inc({ code: body.code });
        // socket.io sends `data` to the client with the connect_error.
        next(Object.assign(new Error(body.message), { data: body }));
      }
    });
  }

  handleConnection(socket: AgentSocket): void {
    const { participant, handshakeNonce } = socket.data;
    const replaced = this.connections.add(participant, socket);
    // Told why, so that a second agent running with the same key stops instead of reconnecting against this one for ever.
    replaced?.emit('closing', { code: 'CONFLICT', message: 'another connection with this key replaced this one' });
    replaced?.disconnect(true);
    const header = {
      type: 'welcome' as const,
      protocol: PROTOCOL_VERSION,
      participant,
      coordinatorKey: this.identity.publicKey,
      handshakeNonce,
      serverTime: Date.now(),
      maxFrameBytes: this.config.maxFrameBytes,
      maxMessageBytes: this.config.maxMessageBytes,
    };
    socket.emit('welcome', { header, signature: this.identity.sign('welcome', header) });
    // Events outside the protocol count as refusals too.
    socket.onAny((event: string, body: unknown) => {
      if (AGENT_EVENTS.has(event)) return;
      // One label for every unknown name, so that a client cannot make new series.
      this.metrics.agentMessages.inc({ event: 'unknown', result: 'INVALID_FRAME' });
      this.refuse(socket, event, body, { code: 'INVALID_FRAME', message: `unknown event ${String(event).slice(0, 64)}` });
    });
    this.log.info(`participant ${participant} connected`);
    this.engine.participantOnline(participant);
  }

  handleDisconnect(socket: AgentSocket): void {
    const participant = socket.data?.participant;
    if (!participant) return;
    if (this.connections.remove(participant, socket)) {
      this.log.info(`participant ${participant} disconnected`);
      // Connected to another replica meanwhile: what it was asked, it answers there.
      if (!this.relay.isOnline(participant)) this.engine.participantOffline(participant);
    }
  }

  @SubscribeMessage('statistics')
  statistics(@ConnectedSocket() socket: AgentSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.answer(socket, 'statistics', body, this.engine.submitStatistics(socket.data.participant, body));
  }

  @SubscribeMessage('update')
  update(@ConnectedSocket() socket: AgentSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.answer(socket, 'update', body, this.engine.submitUpdate(socket.data.participant, body));
  }

  @SubscribeMessage('evaluation')
  evaluation(@ConnectedSocket() socket: AgentSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.answer(socket, 'evaluation', body, this.engine.submitEvaluation(socket.data.participant, body));
  }

  @SubscribeMessage('failure')
  failure(@ConnectedSocket() socket: AgentSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.answer(socket, 'failure', body, this.engine.submitFailure(socket.data.participant, body));
  }

  @SubscribeMessage('secagg')
  secagg(@ConnectedSocket() socket: AgentSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.answer(socket, 'secagg', body, this.engine.submitSecAgg(socket.data.participant, body));
  }

  @SubscribeMessage('chunk')
  chunk(@ConnectedSocket() socket: AgentSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.answer(socket, 'chunk', body, socket.data.transfers.receive(body));
  }

  /** The last piece is in: the reassembled message goes where it would have gone whole. */
  @SubscribeMessage('chunked')
  chunked(@ConnectedSocket() socket: AgentSocket, @MessageBody() body: unknown): Promise<Ack> {
    const done = socket.data.transfers.complete(body);
    if ('refused' in done) return this.answer(socket, 'chunked', body, done.refused);
    const handlers = { statistics: this.statistics, update: this.update, evaluation: this.evaluation, secagg: this.secagg };
    return handlers[done.event].call(this, socket, done.message);
  }

  /** The ack, once the engine has decided; a refusal is counted against the connection. */
  private async answer(socket: AgentSocket, event: string, body: unknown, decision: Ack | Promise<Ack>): Promise<Ack> {
    let ack: Ack;
    try {
      ack = await decision;
    } catch (err) {
      // A fault of ours, not the agent's: logged, and answered at once rather than left to the agent's ack timeout.
      this.log.error(`${event} from ${socket.data.participant}: ${(err as Error).stack}`);
      return ackError('INTERNAL', 'an unexpected error; the coordinator logged it');
    }
    this.metrics.agentMessages.inc({ event, result: ack.ok ? 'accepted' : ack.error.code });
    if (!ack.ok) this.refuse(socket, event, body, ack.error);
    return ack;
  }

  /**
   * Logs a refusal and counts it against the participant's key, weighed by its
   * size: a participant that keeps sending what it has no right to send is
   * closed after a bounded number a minute, whatever connection they came on,
   * with a last message saying why, and kept out until the minute is over.
   */
  private refuse(socket: AgentSocket, event: string, body: unknown, error: ErrorBody): void {
    this.log.warn(`refused ${event} from ${socket.data.participant}: ${error.code} ${error.message}`);
    void this.handshakes
      .refused(socket.data.publicKey, refusalWeight(body))
      .then((over) => {
        if (!over || socket.data.closing) return;
        socket.data.closing = true;
        const count = `${this.config.maxRefusalsPerConnection} refused messages (one more per MiB of JSON) within ${REFUSAL_WINDOW_MS / 1000} s`;
        this.log.warn(`closing the connection of ${socket.data.participant} after ${count}; its handshakes are refused until the ${REFUSAL_WINDOW_MS / 1000} s are over`);
        // After the refusal's own ack, which is sent once this turn's promises have settled: the agent hears why its last message was refused.
        setImmediate(() => {
          socket.emit('closing', { code: 'TOO_MANY_ERRORS', message: `${count} from this participant` });
          socket.disconnect(true);
        });
      })
      .catch((err: Error) => this.log.error(`counting a refusal of ${socket.data.participant}: ${err.message}`));
  }
}
