import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { appendJournal, readAcceptedJobs, type JournalJob } from './journal';

describe("the agent's journal", () => {
  it('reads the job lines of every coordinator and participant, without parsing the other lines', () => {
    // Prepare: two jobs of two coordinators, the lines of a message and its answer, a line no entry, and a job line a crash cut short
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fl-journal-')), 'journal.jsonl');
    const job = (coordinator: string, name: string): JournalJob => ({ kind: 'job', coordinator, job: name, participant: 'site-a', spec: { rounds: 2 }, at: 1 });
    appendJournal(file, [job('https://fl.example.org', 'j1'), job('https://old.example.org', 'j2')]);
    appendJournal(file, { kind: 'failure', coordinator: 'https://fl.example.org', job: 'j3', round: 0, participant: 'site-a', phase: 'statistics', code: 'POLICY_MODEL', counts: {}, nonce: 'n', at: 2 });
    appendJournal(file, { kind: 'answer', nonce: 'n', accepted: true, at: 3 });
    fs.appendFileSync(file, '{"not": "an entry"}\n' + JSON.stringify(job('https://fl.example.org', 'j4')).slice(0, 40));
    // Execute, assert
    expect(readAcceptedJobs(file)).toEqual([job('https://fl.example.org', 'j1'), job('https://old.example.org', 'j2')]);
  });
});
