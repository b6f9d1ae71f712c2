import { describeFailure, FailureHeaderSchema, type FailureHeader } from './failures';

const base: FailureHeader = { type: 'failure', job: 'job-1', round: 1, phase: 'train', participant: 'site-a', nonce: 'bm9uY2UtMDAwMDAwMDAwMDAx', code: 'TRAINING_FAILED', counts: {} };
const refusal: FailureHeader = { ...base, phase: 'secagg', step: 'share', code: 'SECAGG_TOO_FEW_NEIGHBOURS', message: '2 neighbours advertised keys, fewer than the threshold 3' };
const problems = (header: unknown) => {
  const parsed = FailureHeaderSchema.safeParse(header);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.message);
};

describe('a failure report of a secure-aggregation step', () => {
  it('names the step, carries a SECAGG_ code and the refusal’s message, in any secure round from −2', () => {
    expect(problems(refusal)).toEqual([]);
    expect(problems({ ...refusal, round: -2 })).toEqual([]);
    expect(describeFailure(refusal)).toBe('refused the share step: 2 neighbours advertised keys, fewer than the threshold 3');
    expect(describeFailure({ ...refusal, message: undefined })).toBe('refused the share step: fewer neighbours than the threshold advertised keys or sent shares');
  });

  it('is refused without its step, with another code, or beyond the message’s length', () => {
    expect(problems({ ...refusal, step: undefined })).toEqual(['a secagg failure names its step, and only it']);
    expect(problems({ ...refusal, code: 'TRAINING_FAILED' })).toEqual(['a secagg failure carries a SECAGG_ code']);
    expect(problems({ ...refusal, message: 'x'.repeat(501) })).toHaveLength(1);
  });

  it('is the only failure report with a step, a message or a round below 0', () => {
    expect(problems(base)).toEqual([]);
    expect(problems({ ...base, step: 'share' })).toEqual(['a secagg failure names its step, and only it']);
    expect(problems({ ...base, message: 'why' })).toEqual(['only a secagg failure carries a message or a round below 0']);
    expect(problems({ ...base, round: -1 })).toEqual(['only a secagg failure carries a message or a round below 0']);
  });
});
