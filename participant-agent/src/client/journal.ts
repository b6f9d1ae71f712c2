/**
 * The agent's journal: one JSON line for every message it sent. An update's
 * line holds the signature it made and whether the coordinator acknowledged
 * it: this site's own evidence, as an audit bundle must hold every acknowledged
 * update exactly as sent, which the coordinator cannot fake without this site's
 * key, nor leave out without `fl-agent audit verify` noticing. Statistics,
 * evaluations and failure reports have lines of their own (`kind`), saying
 * what they disclosed without any value, for `fl-agent report`. Before the
 * first of a job's messages, a line of `kind` job holds the job's spec as the
 * site accepted it; with the rounds, models and noised inputs the other lines
 * name, it is what the site holds the job's later requests to (accepted-jobs.ts).
 *
 * A message's line is written, and flushed to disk, before the message is sent,
 * without `accepted` and with the message's nonce; the coordinator's answer
 * follows on a short line of its own (`kind` answer) naming that nonce. A line
 * with no answer after it was sent by an agent that stopped (a crash, a kill,
 * a power loss) before the answer came: read back without `accepted`. Lines
 * written by earlier releases hold `accepted` themselves, written after the answer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

/** What a training round's answer was trained from: the global model and the per-round config of its train request (absent on lines of earlier releases). */
const trainedFrom = {
  /** the SHA-256 of the global model the request carried (the previous round's) */
  modelSha256: z.string().optional(),
  /** the request's signed per-round config (FedProx's μ, SCAFFOLD's correction by its SHA-256), when it had one */
  config: z.record(z.string(), z.unknown()).optional(),
};

/** The audit log's head the coordinator signed into a train request: a log rewritten since no longer holds it. */
const AuditHeadSchema = z.strictObject({ seq: z.number().int(), hash: z.string() });

export const JournalEntrySchema = z.strictObject({
  /** the coordinator's origin, e.g. https://fl.example.org */
  coordinator: z.string(),
  job: z.string(),
  round: z.number().int(),
  participant: z.string(),
  sha256: z.string(),
  numSamples: z.number().int(),
  /** the update header's signature, base64 */
  signature: z.string(),
  /**
   * the coordinator's ack: false when it refused the update or no answer came in time; absent on the line
   * written before sending (its answer is a later line), and when read back if no answer was journaled
   */
  accepted: z.boolean().optional(),
  /** the message's nonce, which its answer line names (absent on lines of earlier releases) */
  nonce: z.string().optional(),
  /** milliseconds since the epoch: when the ack (or its absence) was known; on a line without its answer, when it was sent */
  at: z.number().int(),
  /** the audit log's head the coordinator signed into the train request this update answered */
  auditHead: AuditHeadSchema.optional(),
  /** the weights' size in bytes */
  bytes: z.number().int().optional(),
  ...trainedFrom,
});
export type JournalEntry = z.infer<typeof JournalEntrySchema>;

const sent = {
  coordinator: z.string(),
  job: z.string(),
  round: z.number().int(),
  participant: z.string(),
  accepted: z.boolean().optional(),
  nonce: z.string().optional(),
  at: z.number().int(),
};

/** Any other message the site sent: which aggregates, metrics or counts it disclosed, never a value of its data. */
export const SentRecordSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('statistics'),
    ...sent,
    rows: z.number().int(),
    /** the rows of the table read, of which `rows` were counted: after a restart the agent trains on these again (absent before this field was kept) */
    tableRows: z.number().int().optional(),
    /** per column: its name and the aggregates sent (e.g. count, sum, sumSquares, missing; or category counts) */
    columns: z.array(z.strictObject({ name: z.string(), role: z.enum(['feature', 'target']), aggregates: z.array(z.string()) })),
  }),
  /** `modelSha256`: the model evaluated, which is its round's (absent on lines of earlier releases) */
  z.strictObject({ kind: z.literal('evaluation'), ...sent, numExamples: z.number().int(), metrics: z.array(z.string()), modelSha256: z.string().optional() }),
  /** a secure-aggregation answer: its step, and what it carried (keys, encrypted shares, the masked input's size and hash), no value; a training round's masked input also what it was trained from */
  z.strictObject({
    kind: z.literal('secagg'),
    ...sent,
    step: z.string(),
    discloses: z.array(z.string()),
    ...trainedFrom,
    /** a statistics-phase advertise: the rows of the table its input was computed on, which the phase's later attempts and training use (absent before this field was kept) */
    tableRows: z.number().int().optional(),
    /** a statistics-phase unmask: the sites of the sum it helped unmask, the only sum of the round it helps unmask (absent before this field was kept) */
    survivors: z.array(z.string()).optional(),
    /** a masked input: its SHA-256 and the answer's signature, which audit verify finds it by among the bundle's secagg.input records (absent before these fields were kept) */
    sha256: z.string().optional(),
    signature: z.string().optional(),
    /** a training round's masked input: the audit log's head the coordinator signed into the train request it answered */
    auditHead: AuditHeadSchema.optional(),
  }),
  z.strictObject({
    kind: z.literal('failure'),
    ...sent,
    phase: z.string(),
    /** phase secagg: the step refused, and the refusal's message as sent */
    step: z.string().optional(),
    code: z.string(),
    counts: z.record(z.string(), z.number()),
    message: z.string().optional(),
  }),
]);
export type SentRecord = z.infer<typeof SentRecordSchema>;

/** The coordinator's answer to the message sent with this nonce, whose lines were written before it was sent. */
export const JournalAnswerSchema = z.strictObject({
  kind: z.literal('answer'),
  nonce: z.string(),
  accepted: z.boolean(),
  /** milliseconds since the epoch, when the ack (or its absence) was known */
  at: z.number().int(),
});
export type JournalAnswer = z.infer<typeof JournalAnswerSchema>;

/** The job as this site accepted it, journaled before any message of the job is sent. */
export const JournalJobSchema = z.strictObject({
  kind: z.literal('job'),
  coordinator: z.string(),
  job: z.string(),
  participant: z.string(),
  /** the job's spec, as the request that first carried it had it */
  spec: z.record(z.string(), z.unknown()),
  /**
   * false: a DP job's ε counts against the site's totals only from its line of kind job-charged on; absent on lines of
   * earlier releases, whose jobs count from their job line
   */
  charged: z.literal(false).optional(),
  /** milliseconds since the epoch */
  at: z.number().int(),
});
export type JournalJob = z.infer<typeof JournalJobSchema>;

/** A DP job's ε counted against the site's totals: journaled, and flushed to disk, before the job's first training input is sent. */
export const JournalChargeSchema = z.strictObject({
  kind: z.literal('job-charged'),
  coordinator: z.string(),
  job: z.string(),
  participant: z.string(),
  /** milliseconds since the epoch */
  at: z.number().int(),
});
export type JournalCharge = z.infer<typeof JournalChargeSchema>;

/** A journal line: an update (no `kind`, the shape audit verify reads) or another message sent. */
export type JournalLine = ({ kind: 'update' } & JournalEntry) | SentRecord;

/** The lines were written but not flushed to disk: they are in the file, and must not be written again. */
export class JournalNotFlushed extends Error {}

/**
 * Appends entries in one write. `durable`: flushed to disk before returning, for lines written before their
 * message is sent, which a power loss right after the send must not take away.
 */
type Written = JournalEntry | SentRecord | JournalAnswer | JournalJob | JournalCharge;

export function appendJournal(file: string, entries: Written | readonly Written[], options: { durable?: boolean } = {}): void {
  // One write of whole lines in append mode: entries never interleave mid-line. 0600 like the key beside it.
  const line = (Array.isArray(entries) ? entries : [entries]).map((entry) => JSON.stringify(entry) + '\n').join('');
  let fd: number;
  try {
    fd = fs.openSync(file, 'a+', 0o600);
  } catch (err) {
    // The directory is made when missing only: checking it before every round's entry cost more than the write.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fd = fs.openSync(file, 'a+', 0o600);
  }
  try {
    // An append that a crash or a full disk cut short left its line open: this entry starts a line of its own.
    const { size } = fs.fstatSync(fd);
    const last = Buffer.alloc(1);
    const open = size > 0 && fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    fs.writeSync(fd, open ? '\n' + line : line);
    if (options.durable) {
      try {
        fs.fdatasyncSync(fd);
      } catch (err) {
        throw new JournalNotFlushed((err as Error).message);
      }
      // A journal made by this write is in its directory only once the directory is flushed too.
      if (size === 0) syncDirectory(path.dirname(file));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** The updates in a journal, for audit verify: the other messages' lines are passed over. */
export function readJournal(file: string): JournalEntry[] {
  return readJournalLines(file).flatMap((line) => (line.kind === 'update' ? [stripKind(line)] : []));
}

function stripKind({ kind: _kind, ...entry }: { kind: 'update' } & JournalEntry): JournalEntry {
  return entry;
}

function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    // Not every platform opens a directory (Windows): its file system keeps the entry without being asked.
    return;
  }
  try {
    fs.fsyncSync(fd);
  } catch {
    // Likewise, some refuse to flush one: the line itself is on disk.
  } finally {
    fs.closeSync(fd);
  }
}

/** A line read back: a message sent, an answer, or a line of the job's acceptance (its spec, its charge). */
type Read = JournalLine | JournalAnswer | JournalJob | JournalCharge;

function parseLine(value: unknown): Read | undefined {
  if (!(value && typeof value === 'object' && 'kind' in value)) {
    const update = JournalEntrySchema.safeParse(value);
    return update.success ? { kind: 'update', ...update.data } : undefined;
  }
  // A line's kind names its schema: an answer, the job as accepted, its charge, or another message sent.
  const schema = value.kind === 'answer' ? JournalAnswerSchema : value.kind === 'job' ? JournalJobSchema : value.kind === 'job-charged' ? JournalChargeSchema : SentRecordSchema;
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Every message of a journal, in the order sent, each with its answer when one was journaled: `accepted` and `at`
 * from the answer line naming its nonce; without `accepted` when none was (sent, answer unknown).
 */
export function readJournalLines(file: string): JournalLine[] {
  const read = readRawLines(file);
  const answers = new Map<string, JournalAnswer>();
  for (const line of read) if (line.kind === 'answer' && !answers.has(line.nonce)) answers.set(line.nonce, line);
  // An answer whose message's line a full disk cut short tells nothing on its own: passed over.
  return read.flatMap((line) => {
    if (line.kind === 'answer' || line.kind === 'job' || line.kind === 'job-charged') return [];
    const answer = line.accepted === undefined && line.nonce !== undefined ? answers.get(line.nonce) : undefined;
    return [answer ? { ...line, accepted: answer.accepted, at: answer.at } : line];
  });
}

/** The lines of one job, of one coordinator and participant, in the order written: the job as accepted and the messages sent, without their answers. */
export function readJobJournal(file: string, of: { coordinator: string; participant: string; job: string }): (JournalLine | JournalJob)[] {
  // Every line is one JSON.stringify: a line of the job holds its name so, and the others, most of a long journal, are not parsed.
  return readRawLines(file, `"job":${JSON.stringify(of.job)}`).flatMap((line) =>
    line.kind !== 'answer' && line.kind !== 'job-charged' && line.job === of.job && line.participant === of.participant && line.coordinator === of.coordinator ? [line] : [],
  );
}

/** The job lines and the charges of a journal, of every coordinator and participant: the jobs this site accepted, as it accepted them, and those charged. */
export function readAcceptedJobs(file: string): (JournalJob | JournalCharge)[] {
  // The text begins both kinds' lines; any other line could hold it only inside a string, where its quotes are escaped: it is not parsed.
  return readRawLines(file, '"kind":"job').flatMap((line) => (line.kind === 'job' || line.kind === 'job-charged' ? [line] : []));
}

/** `holding`: only the lines that hold this text are read (the others are neither parsed nor checked). */
function readRawLines(file: string, holding?: string): Read[] {
  const { lines, unfinished } = scanLines(file, holding);
  const entries: Read[] = [];
  for (const { text, number } of lines) {
    if (text.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // An entry an interrupted append cut short (its end missing), the next one on a line of its own (appendJournal): it was never whole.
      if (text.startsWith('{') && !text.trimEnd().endsWith('}')) continue;
      throw new Error(`${file} line ${number} is not JSON`);
    }
    const entry = parseLine(parsed);
    if (!entry) throw new Error(`${file} line ${number} is not a journal entry`);
    entries.push(entry);
  }
  if (unfinished) {
    // A whole entry with only its newline missing still counts.
    const last = parseLine(safeJson(unfinished));
    if (last) entries.push(last);
  }
  return entries;
}

/** Bytes read at a time: a journal is read in pieces, so that neither its size nor the lines passed over are held as text. */
const PIECE_BYTES = 8 << 20;
const NEWLINE = 0x0a;

/**
 * The lines of a file that hold `holding` (every line without it), each decoded alone, with its number; and the text
 * after the last newline when it holds it: a line an interrupted append left unfinished.
 */
function scanLines(file: string, holding: string | undefined): { lines: { text: string; number: number }[]; unfinished?: string } {
  const needle = holding === undefined ? undefined : Buffer.from(holding);
  const lines: { text: string; number: number }[] = [];
  // newlines read so far
  let newlines = 0;
  const fd = fs.openSync(file, 'r');
  try {
    let buffer = Buffer.alloc(PIECE_BYTES);
    // bytes of a line begun in the previous piece, at the buffer's start
    let kept = 0;
    for (;;) {
      if (buffer.length - kept < PIECE_BYTES) buffer = Buffer.concat([buffer.subarray(0, kept)], kept + PIECE_BYTES);
      const read = fs.readSync(fd, buffer, kept, PIECE_BYTES, null);
      const piece = buffer.subarray(0, kept + read);
      if (read === 0) {
        const holds = piece.length > 0 && (!needle || piece.includes(needle));
        return { lines, unfinished: holds ? piece.toString('utf8') : undefined };
      }
      // The piece's whole lines end at its last newline; the rest is kept for the next piece.
      const whole = piece.lastIndexOf(NEWLINE) + 1;
      let from = 0;
      while (from < whole) {
        const at = needle ? piece.indexOf(needle, from) : from;
        if (at === -1 || at >= whole) break;
        const start = needle ? piece.lastIndexOf(NEWLINE, at) + 1 : from;
        for (let n = piece.indexOf(NEWLINE, from); n !== -1 && n < start; n = piece.indexOf(NEWLINE, n + 1)) newlines++;
        const end = piece.indexOf(NEWLINE, start);
        lines.push({ text: piece.toString('utf8', start, end), number: newlines + 1 });
        newlines++;
        from = end + 1;
      }
      for (let n = piece.indexOf(NEWLINE, from); n !== -1 && n < whole; n = piece.indexOf(NEWLINE, n + 1)) newlines++;
      piece.copy(buffer, 0, whole);
      kept = piece.length - whole;
    }
  } finally {
    fs.closeSync(fd);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
