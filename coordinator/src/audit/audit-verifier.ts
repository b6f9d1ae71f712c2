/**
 * Verifies the coordinator's store for the REST API (`GET /api/audit/verify`)
 * on a worker thread with a read-only connection of its own, so that rounds,
 * agents and dashboards go on meanwhile.
 *
 * On the event loop, verification stops the coordinator for as long as it takes:
 * it checks a signature per record and hashes every stored model and retained
 * update, seconds on a store of many rounds or large models. The thread reads a
 * snapshot of the store (verifyStore reads in one transaction), so the rounds
 * committed meanwhile are simply not part of this verification.
 *
 * One verification runs at a time: requests made while one runs share the next,
 * which starts when it ends and so covers what they asked about. Where the thread
 * cannot run (no build, the thread fails), the store is
 * verified on the event loop as before, with a warning in the log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { FlError, type AuditReport } from '@fl/shared';
import type { LogLevel } from '../logger';
import type { Store } from '../storage/store';
import type { StoreLocation } from '../storage/open';
import { verifyStore } from './store-source';

/**
 * The thread runs the built module: from the build, the one beside this file; from the sources
 * (the tests), the build of them, which `npm test` makes first.
 */
const THREAD_MODULE = path.join(__dirname, '..', '..', 'dist', 'audit', 'verify-thread.js');

export class AuditVerifier {
  private running: Promise<AuditReport> | undefined;
  private next: Promise<AuditReport> | undefined;
  /** the thread of the verification under way, if any */
  private thread: Worker | undefined;
  private stopped = false;

  /** `location`: the store the thread opens for itself; `anchorsFile`: the anchored heads beside the data. */
  constructor(
    private readonly store: Store,
    private readonly location: StoreLocation,
    private readonly anchorsFile: string,
    private readonly log: (level: LogLevel, message: string) => void,
  ) {}

  verify(): Promise<AuditReport> {
    if (this.stopped) return Promise.reject(stoppedError());
    if (!this.running) {
      const run = this.run().finally(() => {
        if (this.running === run) this.running = undefined;
      });
      this.running = run;
      return run;
    }
    this.next ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.verify();
      });
    return this.next;
  }

  /** Ends a verification under way (it fails) and refuses new ones; for the coordinator's shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.thread?.terminate();
  }

  private async run(): Promise<AuditReport> {
    if (!fs.existsSync(THREAD_MODULE)) return this.onEventLoop('the verification thread is not built');
    const report = await new Promise<AuditReport | string>((resolve, reject) => {
      const thread = new Worker(THREAD_MODULE, { workerData: { location: this.location, anchorsFile: this.anchorsFile } });
      this.thread = thread;
      let settled = false;
      const settle = (report: () => AuditReport | string) => {
        if (settled) return;
        settled = true;
        this.thread = undefined;
        try {
          resolve(report());
        } catch (err) {
          reject(err);
        }
      };
      thread.once('message', (message: AuditReport | { failed: string }) =>
        settle(() => ('failed' in message ? this.afterThread(`it failed: ${message.failed}`) : message)),
      );
      thread.once('error', (err) => settle(() => this.afterThread(`it failed: ${err.message}`)));
      thread.once('exit', (code) => settle(() => this.afterThread(`it exited with code ${code} before reporting`)));
    });
    return typeof report === 'string' ? this.onEventLoop(report) : report;
  }

  /** Why the verification goes on on the event loop. */
  private afterThread(reason: string): string {
    if (this.stopped) throw stoppedError();
    return `the verification thread did not answer: ${reason}`;
  }

  private onEventLoop(why: string): Promise<AuditReport> {
    this.log('warn', `audit verification on the event loop (${why}); rounds wait until it ends`);
    return verifyStore(this.store, undefined, { anchorsFile: this.anchorsFile });
  }
}

const stoppedError = () => new FlError('INTERNAL', 'the coordinator stopped before the audit verification ended');
