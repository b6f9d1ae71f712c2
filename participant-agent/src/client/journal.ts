/**
 * The agent's journal: one JSON line for every update it sent, with the
 * signature it made and whether the coordinator acknowledged it. It is this
 * site's own evidence: an audit bundle must hold every acknowledged update
 * exactly as sent, which the coordinator cannot fake without this site's key,
 * nor leave out without `fl-agent audit verify` noticing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

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
  /** the coordinator's ack: false when it refused the update or no answer came */
  accepted: z.boolean(),
  /** milliseconds since the epoch, when the ack (or its absence) was known */
  at: z.number().int(),
  /** the audit log's head the coordinator signed into the train request this update answered */
  auditHead: z.strictObject({ seq: z.number().int(), hash: z.string() }).optional(),
});
export type JournalEntry = z.infer<typeof JournalEntrySchema>;

export function appendJournal(file: string, entry: JournalEntry): void {
  // One write of one whole line in append mode: entries never interleave mid-line. 0600 like the key beside it.
  const line = JSON.stringify(entry) + '\n';
  try {
    fs.appendFileSync(file, line, { mode: 0o600 });
  } catch (err) {
    // The directory is made when missing only: checking it before every round's entry cost more than the write.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, line, { mode: 0o600 });
  }
}

export function readJournal(file: string): JournalEntry[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  // The text after the last newline is empty, or a line an interrupted append left unfinished.
  const unfinished = lines.pop();
  const entries: JournalEntry[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new Error(`${file} line ${i + 1} is not JSON`);
    }
    const entry = JournalEntrySchema.safeParse(parsed);
    if (!entry.success) throw new Error(`${file} line ${i + 1} is not a journal entry`);
    entries.push(entry.data);
  });
  if (unfinished) {
    // A whole entry with only its newline missing still counts.
    const last = JournalEntrySchema.safeParse(safeJson(unfinished));
    if (last.success) entries.push(last.data);
  }
  return entries;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
