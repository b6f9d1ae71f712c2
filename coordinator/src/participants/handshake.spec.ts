import { encodeKey, generateKeyPair, randomNonce, signHeader, type KeyPair } from '@fl/shared';
import type { ParticipantRecord, ParticipantRepository } from '../storage/store';
import { HandshakeVerifier } from './handshake';

const auth = (keys: KeyPair, timestamp = Date.now(), nonce = randomNonce()) => {
  const header = { type: 'handshake', publicKey: encodeKey(keys.publicKey), timestamp, nonce };
  return { header, signature: signHeader('handshake', header, keys.secretKey) };
};

describe('the handshake verifier', () => {
  const known = generateKeyPair();
  const record: ParticipantRecord = { name: 'bank-a', organisation: 'A', publicKey: encodeKey(known.publicKey), createdAt: 0 };
  const participants = { getParticipantByKey: (k: string) => (k === record.publicKey ? record : undefined) } as ParticipantRepository;

  it('accepts a fresh handshake of a registered key', () => {
    expect(new HandshakeVerifier(participants, 60_000).verify(auth(known)).participant).toEqual(record);
  });

  it('refuses replays within the window and forgets nonces after it', () => {
    const verifier = new HandshakeVerifier(participants, 1000);
    const now = Date.now();
    const first = auth(known, now);
    verifier.verify(first, now);
    expect(() => verifier.verify(first, now + 10)).toThrow(expect.objectContaining({ code: 'REPLAYED_NONCE' }));
    verifier.verify(auth(known, now + 5000), now + 5000);
    expect((verifier as unknown as { seen: Map<string, number> }).seen.size).toBe(1);
  });

  it('refuses with the code of the first failed check', () => {
    const verifier = new HandshakeVerifier(participants, 1000);
    const tampered = auth(known);
    tampered.header.timestamp += 1;
    expect(() => verifier.verify(tampered)).toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    expect(() => verifier.verify(auth(known, Date.now() - 5000))).toThrow(expect.objectContaining({ code: 'STALE_TIMESTAMP' }));
    expect(() => verifier.verify(auth(generateKeyPair()))).toThrow(expect.objectContaining({ code: 'UNKNOWN_PARTICIPANT' }));
    expect(() => verifier.verify({ header: {} })).toThrow(expect.objectContaining({ code: 'INVALID_FRAME' }));
  });
});
