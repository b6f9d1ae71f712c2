import { ManualClock } from '../core/clock';
import { ReplyCollection } from './collection';

describe('a phase collecting replies', () => {
  it('closes as soon as every selected participant replied or failed', async () => {
    const clock = new ManualClock();
    const phase = new ReplyCollection<number>(new Set(['a', 'b']), clock.now() + 60_000, clock);
    phase.accept('a', 1);
    expect(phase.isClosed).toBe(false);
    phase.fail('b', 'disconnected');
    await phase.closed;
    expect([...phase.replies]).toEqual([['a', 1]]);
    expect([...phase.failures]).toEqual([['b', { reason: 'disconnected' }]]);
  });

  it('counts only the first answer of a participant, and none from outside the selection', () => {
    const clock = new ManualClock();
    const phase = new ReplyCollection<number>(new Set(['a', 'b']), clock.now() + 60_000, clock);
    phase.accept('a', 1);
    phase.accept('a', 2);
    phase.fail('a', 'late');
    phase.accept('mallory', 3);
    expect([...phase.replies]).toEqual([['a', 1]]);
    expect(phase.failures.size).toBe(0);
    phase.close('test over');
  });

  it('closes at the deadline, failing whoever has not answered, and not a moment before', async () => {
    const clock = new ManualClock();
    const phase = new ReplyCollection<number>(new Set(['a', 'b']), clock.now() + 30_000, clock);
    phase.accept('a', 1);
    clock.advance(29_999);
    expect(phase.isClosed).toBe(false);
    clock.advance(1);
    await phase.closed;
    expect(phase.failures.get('b')).toEqual({ reason: 'deadline passed' });
    phase.accept('b', 2);
    expect(phase.replies.has('b')).toBe(false);
  });

  it('closes earlier when brought forward, never later', async () => {
    const clock = new ManualClock();
    const phase = new ReplyCollection<number>(new Set(['a', 'b']), clock.now() + 30_000, clock);
    phase.closeBy(clock.now() + 60_000);
    phase.closeBy(clock.now() + 5_000);
    clock.advance(4_999);
    expect(phase.isClosed).toBe(false);
    clock.advance(1);
    await phase.closed;
    expect([...phase.failures.keys()]).toEqual(['a', 'b']);
  });
});
