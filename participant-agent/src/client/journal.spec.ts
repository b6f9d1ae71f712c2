import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appendJournal, readAcceptedJobs, readJobJournal, readJournalLines, type JournalCharge, type JournalJob } from './journal';

describe("the agent's journal", () => {
  it('reads the job lines of every coordinator and participant, without parsing the other lines', () => {
    // Prepare: two jobs of two coordinators, the lines of a message and its answer, a line no entry, and a job line a crash cut short
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-journal-')), 'journal.jsonl');
    const job = (coordinator: string, name: string): JournalJob => ({ kind: 'job', coordinator, job: name, participant: 'site-a', spec: { rounds: 2 }, at: 1 });
    const charge: JournalCharge = { kind: 'job-charged', coordinator: 'https://fl.example.org', job: 'j1', participant: 'site-a', at: 4 };
    appendJournal(file, [job('https://fl.example.org', 'j1'), job('https://old.example.org', 'j2')]);
    appendJournal(file, { kind: 'failure', coordinator: 'https://fl.example.org', job: 'j3', round: 0, participant: 'site-a', phase: 'statistics', code: 'POLICY_MODEL', counts: {}, nonce: 'n', at: 2 });
    appendJournal(file, { kind: 'answer', nonce: 'n', accepted: true, at: 3 });
    appendJournal(file, charge, { durable: true });
    // the lines of messages sent pass a charge over
    expect(readJournalLines(file).map((line) => line.kind)).toEqual(['failure']);
    fs.appendFileSync(file, '{"not": "an entry"}\n' + JSON.stringify(job('https://fl.example.org', 'j4')).slice(0, 40));
    // Execute, assert: the job lines and the charges
    expect(readAcceptedJobs(file)).toEqual([job('https://fl.example.org', 'j1'), job('https://old.example.org', 'j2'), charge]);
  });

  it("reads a job's lines from a journal larger than any piece it is read in, a line longer than one included, and names a broken line by its number", () => {
    // Prepare: 120,000 messages of other jobs (about 19 MB) with the job's lines among them, one of which is 9 MB long
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-journal-')), 'journal.jsonl');
    const of = { coordinator: 'https://fl.example.org', participant: 'site-a', job: 'j' };
    const failure = (job: string, round: number) => ({ kind: 'failure' as const, ...of, job, round, phase: 'train', code: 'DATA_NO_ROWS', counts: { rows: 0 }, nonce: `n${round}`, at: 1 });
    const long: JournalJob = { kind: 'job', ...of, spec: { rounds: 2, notes: 'x'.repeat(9 << 20) }, at: 1 };
    const lines = [JSON.stringify(long)];
    for (let i = 1; i <= 120_000; i++) lines.push(JSON.stringify(failure(i % 30_000 === 0 ? 'j' : 'other', i)));
    fs.writeFileSync(file, lines.join('\n') + '\n');
    // Execute, assert: the job's lines, in order
    expect(readJobJournal(file, of).map((line) => (line.kind === 'job' ? line.spec.notes : line.round))).toEqual([long.spec.notes, 30_000, 60_000, 90_000, 120_000]);
    // a line of the job cut short by a crash, the next on a line of its own, is passed over; one whole but for its newline counts
    fs.appendFileSync(file, JSON.stringify(failure('j', 120_001)).slice(0, 60) + '\n' + JSON.stringify(failure('j', 120_002)));
    expect(readJobJournal(file, of).map((line) => line.kind === 'failure' && line.round).slice(-2)).toEqual([120_000, 120_002]);
    // a line of the job that is not JSON, or not an entry, is named by its number
    fs.appendFileSync(file, '\n' + JSON.stringify(failure('other', 1)) + '\n"job":"j"\n');
    expect(() => readJobJournal(file, of)).toThrow(new Error(`${file} line 120005 is not JSON`));
  });
});
