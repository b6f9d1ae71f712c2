import { auditParticipants } from './record';

describe('the participants an audit record is about', () => {
  const about = (kind: string, data: Record<string, unknown>, actor = 'coordinator') => auditParticipants({ kind, actor, data });

  it('are the participant that acted and those its data names as participants, each once', () => {
    expect(about('update.accepted', { job: 'j', round: 1, participant: 'lyon' }, 'participant:lyon')).toEqual(['lyon']);
    expect(about('participant.enrolled', { name: 'porto', invitation: 'i1' }, 'invitation:i1')).toEqual(['porto']);
    expect(about('participant.revoked', { name: 'porto', reason: '' }, 'user:ada')).toEqual(['porto']);
    expect(about('invitation.created', { id: 'i1', name: 'porto' }, 'user:ada')).toEqual(['porto']);
    expect(about('statistics.excluded', { job: 'j', participant: 'lyon', code: 'X' })).toEqual(['lyon']);
    expect(about('model.committed', { job: 'j', contributors: [{ participant: 'lyon' }, { participant: 'madrid' }], revoked: ['porto'] })).toEqual(['lyon', 'madrid', 'porto']);
    expect(about('statistics.secure', { job: 'j', contributors: [{ participant: 'lyon', sha256: 'x' }] })).toEqual(['lyon']);
    expect(about('vocabulary.secure', { presence: { contributors: [{ participant: 'lyon' }] }, values: { contributors: [{ participant: 'madrid' }] } })).toEqual(['lyon', 'madrid']);
    const unmasked = { participants: ['lyon', 'madrid'], sharers: ['lyon'], adverts: [{ participant: 'lyon' }], seeds: { lyon: 's' }, maskKeys: { porto: 'k' } };
    expect(about('secagg.unmasked', unmasked)).toEqual(['lyon', 'madrid', 'porto']);
  });

  it('are none for records about users, tokens, invitations without a name, or jobs', () => {
    expect(about('user.added', { name: 'lyon', role: 'viewer' }, 'user:ada')).toEqual([]);
    expect(about('token.created', { id: 't', user: 'lyon', label: 'x' }, 'user:lyon')).toEqual([]);
    expect(about('invitation.created', { id: 'i1', name: null }, 'user:ada')).toEqual([]);
    expect(about('job.created', { job: 'j', spec: {} }, 'token:t1')).toEqual([]);
  });

  it('are read from whatever a record holds: a field it lacks names no one, a kind not known here only its actor', () => {
    expect(about('model.committed', { job: 'j' })).toEqual([]);
    expect(about('secagg.unmasked', { seeds: null, adverts: [null] })).toEqual([]);
    expect(about('job.rescheduled', { participant: 'lyon' }, 'participant:madrid')).toEqual(['madrid']);
  });
});
