import { buildReport, reportMarkdown } from './report';
import type { JournalLine } from '../client/journal';

const update = (round: number): JournalLine => ({
  kind: 'update',
  coordinator: 'https://fl.example.org',
  job: 'job-1',
  round,
  participant: 'bank-lyon',
  sha256: 'ab'.repeat(32),
  numSamples: 100,
  signature: 'sig',
  accepted: true,
  at: Date.UTC(2026, 0, 31, 12, round),
  bytes: 124,
});

describe('fl-agent report as Markdown', () => {
  it('says its counts as a reader would: 1 message and 1 job, 2 messages', () => {
    expect(reportMarkdown(buildReport([update(1)]))).toContain('1 message, in 1 job. No row');
    expect(reportMarkdown(buildReport([update(1), update(2)]))).toContain('2 messages, in 1 job. No row');
    expect(reportMarkdown(buildReport([]))).toContain('0 messages, in 0 jobs. No row');
  });
});
