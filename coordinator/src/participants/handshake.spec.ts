import { canonicalBytes, defaultEngine, encodeKey, generateKeyPair, PROTOCOL_VERSION, randomNonce, signHeader, type KeyPair } from '@fl/shared';
import type { ParticipantRecord, ParticipantRepository } from '../storage/store';
import { FailureLimiter } from '../failure-limiter';
import { HandshakeVerifier } from './handshake';
import { InProcessSharedState } from '../cluster/shared-state';

const auth = (keys: KeyPair, timestamp = Date.now(), nonce = randomNonce()) => {
  const header = { type: 'handshake', protocol: PROTOCOL_VERSION, publicKey: encodeKey(keys.publicKey), timestamp, nonce };
  return { header, signature: signHeader('handshake', header, keys.secretKey) };
};

describe('the handshake verifier', () => {
  const known = generateKeyPair();
  const record = { name: 'bank-a', organisation: 'A', publicKey: encodeKey(known.publicKey), createdAt: 0 } as ParticipantRecord;
  const participants = { getParticipantByKey: async (k: string) => (k === record.publicKey ? record : undefined) } as Pick<ParticipantRepository, 'getParticipantByKey'> as ParticipantRepository;

  it('accepts a fresh handshake of a registered key', async () => {
    expect((await new HandshakeVerifier(participants, 60_000).verify(auth(known))).participant).toEqual(record);
  });

  it('refuses replays within the window and forgets nonces after it', async () => {
    const nonces = new InProcessSharedState();
    const verifier = new HandshakeVerifier(participants, 1000, undefined, undefined, nonces);
    const now = Date.now();
    const first = auth(known, now);
    await verifier.verify(first, now);
    await expect(verifier.verify(first, now + 10)).rejects.toThrow(expect.objectContaining({ code: 'REPLAYED_NONCE' }));
    await verifier.verify(auth(known, now + 5000), now + 5000);
    expect(nonces.claimCount).toBe(1);
  });

  it('refuses a handshake signed before it started, whose nonce it cannot have seen: a replay across a restart', async () => {
    const now = Date.now();
    const verifier = new HandshakeVerifier(participants, 60_000, new FailureLimiter(20, 60_000), now);
    await expect(verifier.verify(auth(known, now - 10), now)).rejects.toThrow(expect.objectContaining({ code: 'REPLAYED_NONCE' }));
    expect((await verifier.verify(auth(known, now), now)).participant).toEqual(record);
  });

  it('refuses with the code of the first failed check', async () => {
    // One instant for signing and checking: a stall between them cannot turn a code into STALE_TIMESTAMP.
    const now = Date.now();
    const verifier = new HandshakeVerifier(participants, 1000, undefined, now - 10_000);
    const tampered = auth(known, now);
    tampered.header.timestamp += 1;
    await expect(verifier.verify(tampered, now)).rejects.toThrow(expect.objectContaining({ code: 'BAD_SIGNATURE' }));
    await expect(verifier.verify(auth(known, now - 5000), now)).rejects.toThrow(expect.objectContaining({ code: 'STALE_TIMESTAMP' }));
    await expect(verifier.verify(auth(generateKeyPair(), now), now)).rejects.toThrow(expect.objectContaining({ code: 'UNKNOWN_PARTICIPANT' }));
    await expect(verifier.verify({ header: {} }, now)).rejects.toThrow(expect.objectContaining({ code: 'UNSUPPORTED_PROTOCOL' }));
    await expect(verifier.verify({ header: 'x' }, now)).rejects.toThrow(expect.objectContaining({ code: 'INVALID_FRAME' }));
  });

  it('tells an agent of another protocol version which versions meet, before any other check', async () => {
    const verifier = new HandshakeVerifier(participants, 60_000);
    // What a version-1 agent sends: no protocol field, signed over FL1 bytes.
    const header = { type: 'handshake', publicKey: encodeKey(known.publicKey), timestamp: Date.now(), nonce: randomNonce() };
    const old = { header, signature: Buffer.from(defaultEngine.sign(canonicalBytes('handshake', header, 1), known.secretKey)).toString('base64') };
    await expect(verifier.verify(old)).rejects.toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_PROTOCOL', message: expect.stringMatching(/speaks protocol version 2; the agent speaks version 1 .*upgrade/) }),
    );
    const future = auth(known);
    (future.header as { protocol: number }).protocol = 3;
    await expect(verifier.verify(future)).rejects.toThrow(expect.objectContaining({ code: 'UNSUPPORTED_PROTOCOL', message: expect.stringMatching(/the agent speaks version 3/) }));
  });
});

/** Two approved participants with fresh keys, named as a test says, and the repository that knows them. */
function approvedPair(name: string, otherName: string) {
  const keys = generateKeyPair();
  const other = generateKeyPair();
  const record = (k: KeyPair, n: string) => ({ name: n, organisation: n, publicKey: encodeKey(k.publicKey), status: 'approved', createdAt: 0 }) as ParticipantRecord;
  const known = [record(keys, name), record(other, otherName)];
  const participants = { getParticipantByKey: async (k: string) => known.find((r) => r.publicKey === k) } as unknown as ParticipantRepository;
  return { keys, other, participants };
}

describe('the refused messages of a key', () => {
  const { keys, other, participants } = approvedPair('noisy', 'quiet');

  it('are counted over a minute, whatever connection sent them; past the limit the key is kept out until the minute is over, other keys are not', async () => {
    const now = Date.now();
    const verifier = new HandshakeVerifier(participants, 120_000, undefined, now, undefined, new FailureLimiter(3, 60_000));
    const noisy = encodeKey(keys.publicKey);
    expect([await verifier.refused(noisy, 1, now), await verifier.refused(noisy, 1, now + 10)]).toEqual([false, false]);
    expect((await verifier.verify(auth(keys, now + 20), now + 20)).participant.name).toBe('noisy');
    expect(await verifier.refused(noisy, 1, now + 30)).toBe(true);
    await expect(verifier.verify(auth(keys, now + 40), now + 40)).rejects.toThrow(expect.objectContaining({ code: 'RATE_LIMITED', message: expect.stringMatching(/closed for too many refused messages/) }));
    expect((await verifier.verify(auth(other, now + 40), now + 40)).participant.name).toBe('quiet');
    await expect(verifier.verify(auth(keys, now + 59_999), now + 59_999)).rejects.toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    expect((await verifier.verify(auth(keys, now + 60_000), now + 60_000)).participant.name).toBe('noisy');
  });

  it('count a refusal as heavy as it is weighed: one of weight 3 uses up a limit of 3 at once', async () => {
    const now = Date.now();
    const verifier = new HandshakeVerifier(participants, 120_000, undefined, now, undefined, new FailureLimiter(3, 60_000));
    expect(await verifier.refused(encodeKey(keys.publicKey), 2, now)).toBe(false);
    expect(await verifier.refused(encodeKey(other.publicKey), 3, now)).toBe(true);
  });
});

describe('the connections of a key', () => {
  const { keys, other, participants } = approvedPair('looping', 'steady');

  it('are let in up to the limit a minute; past it, refused RATE_LIMITED until the minute is over, other keys let in', async () => {
    const now = Date.now();
    const verifier = new HandshakeVerifier(participants, 120_000, undefined, now, undefined, undefined, new FailureLimiter(3, 60_000));
    for (let i = 0; i < 3; i++) expect((await verifier.verify(auth(keys, now + i), now + i)).participant.name).toBe('looping');
    await expect(verifier.verify(auth(keys, now + 10), now + 10)).rejects.toThrow(
      expect.objectContaining({ code: 'RATE_LIMITED', message: 'more than 3 connections of this key within a minute; wait before connecting again' }),
    );
    expect((await verifier.verify(auth(other, now + 10), now + 10)).participant.name).toBe('steady');
    expect((await verifier.verify(auth(keys, now + 60_000), now + 60_000)).participant.name).toBe('looping');
  });
});

describe('failed handshakes', () => {
  const participants = { getParticipantByKey: () => undefined } as unknown as ParticipantRepository;

  it('are rate-limited per address, and per key when its holder signed them, for a window', async () => {
    const verifier = new HandshakeVerifier(participants, 60_000, new FailureLimiter(3, 1000));
    const keys = generateKeyPair();
    const now = Date.now();
    for (let i = 0; i < 3; i++) {
      await expect(verifier.verify(auth(keys, now), now, '10.0.0.1')).rejects.toThrow(expect.objectContaining({ code: 'UNKNOWN_PARTICIPANT' }));
    }
    await expect(verifier.verify(auth(keys, now), now, '10.0.0.1')).rejects.toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    // the same key from another address is limited too; another key from another address is not
    await expect(verifier.verify(auth(keys, now), now, '10.0.0.2')).rejects.toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    await expect(verifier.verify(auth(generateKeyPair(), now), now, '10.0.0.2')).rejects.toThrow(expect.objectContaining({ code: 'UNKNOWN_PARTICIPANT' }));
    // after the window, the address may try again
    const later = now + 1001;
    await expect(verifier.verify(auth(keys, later), later, '10.0.0.1')).rejects.toThrow(expect.objectContaining({ code: 'UNKNOWN_PARTICIPANT' }));
  });
});

describe('handshakes that name a key without holding it', () => {
  const victim = generateKeyPair();
  const record = { name: 'bank-v', organisation: 'V', publicKey: encodeKey(victim.publicKey), createdAt: 0 } as ParticipantRecord;
  const participants = { getParticipantByKey: async (k: string) => (k === record.publicKey ? record : undefined) } as Pick<ParticipantRepository, 'getParticipantByKey'> as ParticipantRepository;

  it("count against the sender's address only: the key's holder still gets in from its own", async () => {
    const verifier = new HandshakeVerifier(participants, 60_000, new FailureLimiter(3, 60_000));
    const now = Date.now();
    const forged = () => auth(victim, now);
    for (let i = 0; i < 5; i++) {
      const attempt = forged();
      attempt.signature = signHeader('handshake', attempt.header, generateKeyPair().secretKey);
      await expect(verifier.verify(attempt, now, '10.6.6.6')).rejects.toThrow(expect.objectContaining({ code: i < 3 ? 'BAD_SIGNATURE' : 'RATE_LIMITED' }));
    }
    // a handshake the victim signed, replayed by the stranger, does not count against the key either
    const seen = auth(victim, now);
    expect((await verifier.verify(seen, now, '10.0.0.1')).participant).toEqual(record);
    for (let i = 0; i < 5; i++) await expect(verifier.verify(seen, now, `10.7.7.${i}`)).rejects.toThrow(expect.objectContaining({ code: 'REPLAYED_NONCE' }));
    expect((await verifier.verify(auth(victim, now), now, '10.0.0.1')).participant).toEqual(record);
  });
});
