import { decodePublicKey, encodeKey, generateKeyPair } from '../crypto/keys';
import { AuditPageQuerySchema, NewUserRequestSchema, PublicKeySchema } from './requests';

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

  it('refuse a short password, naming the minimum', () => {
    const parsed = NewUserRequestSchema.safeParse({ name: 'ada', password: 'short', role: 'admin' });
    expect(parsed.success ? '' : parsed.error.issues[0].message).toBe('at least 12 characters');
  });
});
