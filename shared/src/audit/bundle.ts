/**
 * Audit bundles: a copy of the audit log that anyone can verify offline, with
 * no access to the coordinator. A bundle is a directory:
 *
 *   manifest.json                                   { format, version, coordinatorKey, exportedAt, records, head[, participant] }
 *   records.jsonl                                   each record's stored text, one a line, exactly
 *   updates/<job>/<round>/<participant>.<sha256>.f32  retained updates (Float32 little endian), or masked inputs (Uint32 LE)
 *   models/<job>/<round>.f32                        global models, round 0 the initial one
 *   states/<job>/<round>.state                      strategy states after a round (encodeState), when its record names one
 *
 * Job and participant names are percent-encoded in paths, so no name can reach
 * outside its directory. The manifest is written last: a bundle cut short by a
 * failed export has none and is refused, rather than verified as a shorter log.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { CENTRAL_NOISE } from '../privacy/central';
import type { AuditItem, AuditSource } from './verify';

export const AUDIT_BUNDLE_FORMAT = 'fl-audit-bundle';

/**
 * Not strict: a field a newer coordinator adds is ignored (and named), so that an
 * older verifier still reads its bundles, as it reads records of kinds it does not
 * know; a change an older verifier must not ignore comes with a new version.
 */
export const BundleManifestSchema = z.object({
  format: z.literal(AUDIT_BUNDLE_FORMAT),
  /** 2 from protocol version 2 on (its records may be in either version); 1 before */
  version: z.union([z.literal(1), z.literal(2)]),
  /** the key of record 1, base64: what a verifier compares with the key it trusts */
  coordinatorKey: z.string(),
  exportedAt: z.number().int(),
  /** how many records, and the last one's hash: a log cut short is otherwise a valid log */
  records: z.number().int().nonnegative(),
  head: z.string(),
  /** set when only this participant's updates were exported */
  participant: z.string().optional(),
});
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/** What each manifest field must be, as a refusal says it. */
const MANIFEST_FIELDS: Record<keyof BundleManifest, string> = {
  format: JSON.stringify(AUDIT_BUNDLE_FORMAT),
  version: '1 or 2',
  coordinatorKey: 'a string',
  exportedAt: 'a whole number',
  records: 'a whole number of 0 or more',
  head: 'a string',
  participant: 'a string',
};

/** The first thing wrong with a manifest, naming its field: a bare "not a manifest" leaves the reader to guess. */
function manifestProblem(parsed: unknown, error: z.ZodError): string {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'it is not a JSON object';
  const field = error.issues[0]?.path[0];
  if (typeof field !== 'string' || !Object.hasOwn(MANIFEST_FIELDS, field)) return error.issues[0]?.message ?? 'malformed';
  const value = (parsed as Record<string, unknown>)[field];
  if (value === undefined) return `it has no ${field}`;
  const shown = JSON.stringify(value);
  return `${field} must be ${MANIFEST_FIELDS[field as keyof BundleManifest]}, not ${shown.length > 80 ? `${shown.slice(0, 77)}...` : shown}`;
}

const MANIFEST = 'manifest.json';
const RECORDS = 'records.jsonl';

/** A name as one path segment: percent-encoded, with a leading dot encoded too ('.', '..', hidden files). */
function segment(name: string): string {
  return encodeURIComponent(name)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/^\./, '%2E');
}

const updateDir = (job: string, round: number) => path.posix.join('updates', segment(job), String(round));
const updateFile = (job: string, round: number, participant: string, sha256: string) =>
  path.posix.join(updateDir(job, round), `${segment(participant)}.${sha256}.f32`);
const modelFile = (job: string, round: number) => path.posix.join('models', segment(job), `${round}.f32`);
const stateFile = (job: string, round: number) => path.posix.join('states', segment(job), `${round}.state`);

/** The fields writeBundle reads from a record; a record it cannot read is still copied, for the verifier to name. */
interface Referenced {
  hash?: string;
  kind?: string;
  data?: { job?: string; round?: number; participant?: string; sha256?: string; retained?: boolean; publicKey?: string; stateSha256?: string; centralNoise?: { seedSha256?: string } };
}

/**
 * Writes a bundle of everything the source holds: every record, the retained
 * updates and every model a record refers to. With `participant`, only that
 * participant's updates: the others' can reveal the others' data, and without
 * them no round can be recomputed, which the verifier reports as such.
 */
export async function writeBundle(source: AuditSource, outDir: string, options: { participant?: string } = {}): Promise<BundleManifest> {
  const existed = fs.existsSync(outDir);
  if (existed && fs.readdirSync(outDir).length > 0) {
    throw new Error(`${outDir} is not empty: a bundle is written to a new or empty directory`);
  }
  try {
    fs.mkdirSync(outDir, { recursive: true });
    return await writeInto(source, outDir, options);
  } catch (err) {
    // Half a bundle would read as a tampered one, and stand in the way of the next try: it goes.
    if (existed) for (const entry of fs.readdirSync(outDir)) fs.rmSync(path.join(outDir, entry), { recursive: true, force: true });
    else fs.rmSync(outDir, { recursive: true, force: true });
    throw new Error(`cannot write the audit bundle ${outDir}: ${(err as Error).message}`, { cause: err });
  }
}

async function writeInto(source: AuditSource, outDir: string, options: { participant?: string }): Promise<BundleManifest> {
  const copy = (relative: string, bytes: Uint8Array | undefined) => {
    const file = path.join(outDir, relative);
    // Absent bytes are left absent: the verifier names what is missing. A round started
    // again can accept the same update twice; its bytes are the same file.
    if (!bytes || fs.existsSync(file)) return;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, bytes);
  };

  let records = 0;
  let head = '';
  let coordinatorKey = '';
  const out = fs.openSync(path.join(outDir, RECORDS), 'wx');
  try {
    for await (const { seq, text } of source.records()) {
      if (/[\r\n]/.test(text)) throw new Error(`${source.describe({ record: seq })} holds a line break: it is not a stored canonical record`);
      fs.writeSync(out, text + '\n');
      records++;
      let record: Referenced;
      try {
        record = JSON.parse(text) ?? {};
      } catch {
        continue;
      }
      head = typeof record.hash === 'string' ? record.hash : '';
      const data = record.data ?? {};
      if (records === 1 && record.kind === 'coordinator.key' && typeof data.publicKey === 'string') coordinatorKey = data.publicKey;
      const { job, round, participant, sha256 } = data;
      if (typeof job !== 'string' || typeof round !== 'number') continue;
      if (record.kind === 'model.initial' || record.kind === 'model.committed') {
        copy(modelFile(job, round), await source.model(job, round));
        if (typeof data.stateSha256 === 'string') copy(stateFile(job, round), await source.state?.(job, round));
        // Central DP's noise seed goes with all the updates, never with one participant's.
        const seedSha256 = data.centralNoise?.seedSha256;
        if (options.participant === undefined && typeof seedSha256 === 'string') copy(updateFile(job, round, CENTRAL_NOISE, seedSha256), await source.update(job, round, CENTRAL_NOISE, seedSha256));
      } else if ((record.kind === 'update.accepted' || record.kind === 'secagg.input') && data.retained === true && typeof participant === 'string' && typeof sha256 === 'string') {
        // A secure round's masked input is kept as an update is, and recomputing the round needs it as much.
        if (options.participant === undefined || options.participant === participant) {
          copy(updateFile(job, round, participant, sha256), await source.update(job, round, participant, sha256));
        }
      }
    }
  } finally {
    fs.closeSync(out);
  }
  const manifest: BundleManifest = {
    format: AUDIT_BUNDLE_FORMAT,
    version: 2,
    coordinatorKey,
    exportedAt: Date.now(),
    records,
    head,
    ...(options.participant !== undefined && { participant: options.participant }),
  };
  fs.writeFileSync(path.join(outDir, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { flag: 'wx' });
  return manifest;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A stored line's text; bytes that are not UTF-8 are flagged, never read as U+FFFD: an altered byte must not read as the original. */
function decoded(bytes: Buffer): { text: string; notUtf8?: true } {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { text: bytes.toString('utf8'), notUtf8: true };
  }
}

/** A bundle directory as an AuditSource; failures name its files. */
export class BundleSource implements AuditSource {
  readonly manifest: BundleManifest;
  readonly updatesOf?: string;
  readonly claimedHead: { records: number; hash: string; where: string };
  /** manifest fields this verifier does not know, ignored */
  readonly unknownFields: string[];
  /** the SHA-256 last asked for per update, so that a failure names the very file */
  private readonly asked = new Map<string, string>();

  constructor(readonly dir: string) {
    const file = path.join(dir, MANIFEST);
    if (!fs.existsSync(file)) throw new Error(`${dir} is not an audit bundle: it has no ${MANIFEST}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file} is not JSON: ${(err as Error).message}`);
    }
    const manifest = BundleManifestSchema.safeParse(parsed);
    if (!manifest.success) throw new Error(`${file} is not an audit bundle manifest: ${manifestProblem(parsed, manifest.error)}`);
    this.manifest = manifest.data;
    this.unknownFields = Object.keys(parsed as object).filter((field) => !Object.hasOwn(BundleManifestSchema.shape, field));
    this.updatesOf = manifest.data.participant;
    this.claimedHead = { records: manifest.data.records, hash: manifest.data.head, where: file };
  }

  *records(): Iterable<{ seq: number; text: string; notUtf8?: true }> {
    // Read in chunks and split on the newline byte (never part of a multi-byte UTF-8
    // character), so that a log larger than a string can hold still streams.
    const fd = fs.openSync(path.join(this.dir, RECORDS), 'r');
    try {
      const chunk = Buffer.allocUnsafe(1 << 20);
      let pending: Buffer[] = [];
      let seq = 0;
      for (let read; (read = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) {
        let start = 0;
        for (let end; (end = chunk.indexOf(0x0a, start)) !== -1 && end < read; start = end + 1) {
          pending.push(chunk.subarray(start, end));
          yield { seq: ++seq, ...decoded(Buffer.concat(pending)) };
          pending = [];
        }
        if (start < read) pending.push(Buffer.from(chunk.subarray(start, read)));
      }
      // A last line without its newline is still a record, for the verifier to judge.
      if (pending.length) yield { seq: ++seq, ...decoded(Buffer.concat(pending)) };
    } finally {
      fs.closeSync(fd);
    }
  }

  update(job: string, round: number, participant: string, sha256: string): Uint8Array | undefined {
    this.asked.set(JSON.stringify([job, round, participant]), sha256);
    return this.read(updateFile(job, round, participant, sha256));
  }

  model(job: string, round: number): Uint8Array | undefined {
    return this.read(modelFile(job, round));
  }

  state(job: string, round: number): Uint8Array | undefined {
    return this.read(stateFile(job, round));
  }

  describe(item: AuditItem): string {
    if ('record' in item) return `audit record ${item.record} (${path.join(this.dir, RECORDS)} line ${item.record})`;
    if ('state' in item) {
      const [job, round] = item.state;
      return `strategy state after round ${round} of job ${job} (file ${path.join(this.dir, stateFile(job, round))})`;
    }
    if ('model' in item) {
      const [job, round] = item.model;
      return `${round === 0 ? 'initial model' : `model of round ${round}`} of job ${job} (file ${path.join(this.dir, modelFile(job, round))})`;
    }
    const [job, round, participant] = item.update;
    const sha256 = this.asked.get(JSON.stringify(item.update)) ?? '<sha256>';
    return `update of ${participant}, round ${round} of job ${job} (file ${path.join(this.dir, updateFile(job, round, participant, sha256))})`;
  }

  private read(relative: string): Uint8Array | undefined {
    const file = path.join(this.dir, relative);
    return fs.existsSync(file) ? fs.readFileSync(file) : undefined;
  }
}
