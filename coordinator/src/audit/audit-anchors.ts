/**
 * Anchors the audit log's tail outside the store (format: @fl/shared
 * audit/anchor): after each commit that wrote records, the new head is
 * appended to audit-anchors.jsonl beside the store and, when configured, sent
 * to an external sink (a POST of the same JSON), so that records cut from the
 * end of the store are found by `fl-coordinator audit verify`.
 *
 * A head is anchored once its transaction has ended (the next turn of the event
 * loop, read back from the store): a record written inside a transaction that
 * then rolled back is never anchored. The sink is sent the newest head only,
 * one request at a time; a head it missed is covered by the next (the chain
 * links every record to the newest).
 */
import * as fs from 'node:fs';
import { anchorOf, AuditRecordSchema, parseAnchors, type AuditAnchor } from '@fl/shared';
import type { CoordinatorLogger } from '../logger';
import type { Store } from '../storage/store';
import type { AuditLog } from './audit-log';
import { firstRecord } from './store-source';

export class AuditAnchors {
  private anchoredSeq = 0;
  private scheduled: NodeJS.Immediate | undefined;
  /** the head waiting for the sink, and whether a request is under way */
  private unsent: AuditAnchor | undefined;
  private sending = false;
  /** the anchoring under way: one at a time, so that the file's heads stay in order */
  private anchoring: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly file: string,
    private readonly log: CoordinatorLogger,
    private readonly sinkUrl?: string,
  ) {
    this.anchoredSeq = this.lastAnchored()?.seq ?? 0;
  }

  /** Logs an error when the log ends before the last head anchored: records were removed. */
  async checkHead(): Promise<void> {
    const last = this.lastAnchored();
    const head = await this.store.auditHead();
    if (last && (!head || head.seq < last.seq)) {
      this.log.error(`the audit log ends at record ${head?.seq ?? 0}, but record ${last.seq} was anchored in ${this.file}: records were removed; run fl-coordinator audit verify`);
    }
  }

  /** Anchors the head after every commit the log reports, and the current one now. */
  watch(audit: AuditLog): () => void {
    const onAppended = () => (this.scheduled ??= setImmediate(() => void this.anchor()));
    audit.events.on('appended', onAppended);
    void this.anchor();
    return () => {
      audit.events.off('appended', onAppended);
      if (this.scheduled) clearImmediate(this.scheduled);
    };
  }

  /** Appends the store's head, if newer than the last anchored. */
  anchor(now = Date.now()): Promise<void> {
    this.scheduled = undefined;
    this.anchoring = this.anchoring.then(() => this.anchorHead(now)).catch((err: Error) => {
      // A store closed meanwhile (the coordinator stopping) has nothing left to anchor.
      if (this.store.isOpen) this.log.error(`cannot anchor the audit head: ${err.message}`);
    });
    return this.anchoring;
  }

  private async anchorHead(now: number): Promise<void> {
    // A store closed before the app (a failed start, a test) has nothing left to anchor.
    if (!this.store.isOpen) return;
    const head = await this.store.auditHead();
    if (!head || head.seq <= this.anchoredSeq) return;
    const stored = await firstRecord(this.store, head.seq - 1);
    if (!stored) return;
    const anchor = anchorOf(AuditRecordSchema.parse(JSON.parse(stored.text)), now);
    try {
      fs.appendFileSync(this.file, JSON.stringify(anchor) + '\n', { mode: 0o600 });
    } catch (err) {
      this.log.error(`cannot anchor audit record ${anchor.seq} in ${this.file}: ${(err as Error).message}`);
      return;
    }
    this.anchoredSeq = anchor.seq;
    if (this.sinkUrl) {
      this.unsent = anchor;
      void this.send();
    }
  }

  /** The newest anchor, read from the file's end: the file grows by a line a commit for the store's whole life. */
  private lastAnchored(): AuditAnchor | undefined {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return undefined;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const tail = Buffer.alloc(Math.min(size, 64 * 1024));
      fs.readSync(fd, tail, 0, tail.length, size - tail.length);
      const { anchors } = parseAnchors(tail.toString('utf8'));
      return anchors.reduce<AuditAnchor | undefined>((newest, a) => (!newest || a.seq > newest.seq ? a : newest), undefined);
    } finally {
      fs.closeSync(fd);
    }
  }

  private async send(): Promise<void> {
    if (this.sending || !this.unsent || !this.sinkUrl) return;
    this.sending = true;
    const anchor = this.unsent;
    this.unsent = undefined;
    try {
      const response = await fetch(this.sinkUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(anchor), signal: AbortSignal.timeout(10_000) });
      if (!response.ok) this.log.warn(`the audit anchor sink answered ${response.status} for record ${anchor.seq}`);
    } catch (err) {
      this.log.warn(`cannot send audit record ${anchor.seq} to the anchor sink: ${(err as Error).message}`);
    } finally {
      this.sending = false;
    }
    void this.send();
  }
}
