import { decodePublicKey, encodeKey, generateKeyPair } from '../crypto/keys';
import { PublicKeySchema } from '../protocol/enrollment';
import { AuditPageQuerySchema, NewInvitationRequestSchema, NewUserRequestSchema } from './requests';

describe('the admin API request schemas', () => {
  it('accept exactly the public keys the coordinator can decode: canonical base64 of 32 bytes', () => {
    const key = encodeKey(generateKeyPair().publicKey);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    // Every possible last character: only those whose two spare bits are zero are canonical.
    for (const last of alphabet) {
      const candidate = `${key.slice(0, 42)}${last}=`;
      expect(`${candidate} ${PublicKeySchema.safeParse(candidate).success}`).toBe(`${candidate} ${decodePublicKey(candidate) !== null}`);
    }
    for (const wrong of [key.slice(0, 43), `${key}=`, `${key.slice(0, 42)}==`, '']) expect(PublicKeySchema.safeParse(wrong).success).toBe(false);
  });

  it('read the audit page query from strings, with its defaults and limits', () => {
    expect(AuditPageQuerySchema.parse({})).toEqual({ after: 0, limit: 100 });
    expect(AuditPageQuerySchema.parse({ after: '7', limit: '1000' })).toEqual({ after: 7, limit: 1000 });
    expect(AuditPageQuerySchema.safeParse({ limit: '0' }).success).toBe(false);
  });

  it('read the audit filters: one kind or several, of the known kinds only; a job; a participant by its name', () => {
    expect(AuditPageQuerySchema.parse({ kind: 'model.committed', before: '42' })).toEqual({ after: 0, before: 42, limit: 100, kind: ['model.committed'] });
    expect(AuditPageQuerySchema.parse({ kind: ['update.accepted', 'update.excluded'], job: 'j1', participant: 'bank-lyon' })).toMatchObject({
      kind: ['update.accepted', 'update.excluded'],
      job: 'j1',
      participant: 'bank-lyon',
    });
    const refused = (query: Record<string, unknown>) => {
      const parsed = AuditPageQuerySchema.safeParse(query);
      return parsed.success ? undefined : parsed.error.issues[0].path.join('.');
    };
    expect(refused({ kind: 'model.comitted' })).toBe('kind.0');
    expect(refused({ kind: ['model.committed', 'nonsense'] })).toBe('kind.1');
    expect(refused({ participant: 'bank lyon' })).toBe('participant');
    expect(refused({ job: ['j1', 'j2'] })).toBe('job');
    expect(refused({ before: '0' })).toBe('before');
  });

  it('refuse a short password, naming the minimum', () => {
    const parsed = NewUserRequestSchema.safeParse({ name: 'ada', password: 'short', role: 'admin' });
    expect(parsed.success ? '' : parsed.error.issues[0].message).toBe('at least 12 characters');
  });

  it('take an organisation and a country in any script, but refuse control characters and bidirectional overrides', () => {
    expect(NewInvitationRequestSchema.safeParse({ organisation: 'Banque Zürich — 銀行 بنك', country: 'Österreich' }).success).toBe(true);
    for (const organisation of ['Bank\u202Egnp.exe', 'Bank\u0000', 'Bank\u001B[31m', 'Bank\nforged', 'Bank\u2066x\u2069', 'Bank\u0085']) {
      const parsed = NewInvitationRequestSchema.safeParse({ organisation, country: 'NL' });
      expect(parsed.success ? undefined : parsed.error.issues[0]).toMatchObject({ params: { code: 'UNSAFE_TEXT' }, message: expect.stringMatching(/^control characters and bidirectional overrides are not allowed \(U\+[0-9A-F]{4} at 4\)$/) });
    }
    expect(NewInvitationRequestSchema.safeParse({ organisation: 'Bank', country: 'N\u202EL' }).success).toBe(false);
  });
});
