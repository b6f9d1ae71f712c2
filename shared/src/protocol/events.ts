/**
 * Typed Socket.IO event maps, declared once for both sides. Types are not
 * validation: every inbound payload is parsed with its schema before use.
 */
import type { Ack, ErrorBody } from './errors';
import type { Chunk, DownlinkChunked, EvaluateMessage, JobFinished, SetupMessage, StatisticsRequest, TrainMessage, Welcome } from './messages';

export interface CoordinatorToAgentEvents {
  welcome: (message: Welcome) => void;
  'statistics-request': (message: StatisticsRequest) => void;
  /** once per connection and job, before the first train or evaluate request that names it */
  setup: (message: SetupMessage) => void;
  train: (message: TrainMessage) => void;
  evaluate: (message: EvaluateMessage) => void;
  'job-finished': (message: JobFinished) => void;
  /** the coordinator is about to close this connection, and why; COORDINATOR_RESTARTING: reconnect */
  closing: (error: ErrorBody) => void;
  /** a request larger than a frame, in acknowledged pieces, then `chunked` naming its event */
  chunk: (piece: Chunk, ack: (reply: Ack) => void) => void;
  chunked: (end: DownlinkChunked) => void;
}

export interface AgentToCoordinatorEvents {
  statistics: (message: unknown, ack: (reply: Ack) => void) => void;
  update: (message: unknown, ack: (reply: Ack) => void) => void;
  evaluation: (message: unknown, ack: (reply: Ack) => void) => void;
  /** a signed failure report or policy decline (failures.ts) instead of statistics, an update or an evaluation */
  failure: (message: unknown, ack: (reply: Ack) => void) => void;
  chunk: (message: unknown, ack: (reply: Ack) => void) => void;
  chunked: (message: unknown, ack: (reply: Ack) => void) => void;
}
