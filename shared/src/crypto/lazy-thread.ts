/**
 * A worker thread for work that pays off the caller's thread only once the
 * thread runs: started by the first call that wants it, used from the first
 * call after it is up (until then the caller does the work itself: cheaper than
 * waiting for a thread to start), and never started again once it is gone.
 * Its code is evaluated source, so it runs the same from the sources or the build.
 */
import { Worker } from 'node:worker_threads';

export class LazyThread<Message = unknown> {
  private worker: Worker | undefined;
  private online = false;
  private ended = false;

  /** `onMessage`: what the thread posts; `onGone`: told when the thread stops, by itself or by stop(). */
  constructor(
    private readonly source: string,
    private readonly onMessage?: (message: Message) => void,
    private readonly onGone?: () => void,
  ) {}

  /** The thread if it runs; otherwise undefined, and the thread is started when it never was. */
  running(): Worker | undefined {
    if (this.ended) return undefined;
    if (!this.worker) this.start();
    return this.online ? this.worker : undefined;
  }

  /** Whether the thread is gone for good (stopped, or it failed). */
  get gone(): boolean {
    return this.ended;
  }

  /** Stops the thread for good. */
  stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.end();
    return worker ? worker.terminate().then(() => undefined) : Promise.resolve();
  }

  private start(): void {
    const worker = new Worker(this.source, { eval: true });
    // Never what keeps a process alive.
    worker.unref();
    worker.once('online', () => (this.online = true));
    const { onMessage } = this;
    if (onMessage) worker.on('message', (message: Message) => onMessage(message));
    worker.on('error', () => this.end());
    worker.on('exit', () => this.end());
    this.worker = worker;
  }

  private end(): void {
    this.ended = true;
    this.onGone?.();
  }
}
