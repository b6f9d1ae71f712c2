import {
  canonicalBytes,
  canonicalJson,
  decodePublicKey,
  defaultEngine,
  encodeKey,
  fingerprint,
  generateKeyPair,
  readKeyFile,
  signHeader,
  tweetnaclEngine,
  verifyHeader,
  writeKeyFile,
} from '.';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

describe('canonical bytes', () => {
  it('sorts keys at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x'], c: true } })).toBe('{"a":{"c":true,"d":[1,"x"]},"b":1}');
  });

  it('gives the same bytes whatever the key order', () => {
    expect(Buffer.from(canonicalBytes('update', { a: 1, b: 2 }))).toEqual(
      Buffer.from(canonicalBytes('update', { b: 2, a: 1 })),
    );
  });

  it('refuses values that have no single JSON form', () => {
    expect(() => canonicalJson({ x: NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson({ x: new Float32Array(1) })).toThrow(/binary/);
  });

  it('puts the version and the domain in the signed bytes', () => {
    expect(Buffer.from(canonicalBytes('train', {})).toString()).toBe('FL2\0train\0{}');
    expect(Buffer.from(canonicalBytes('train', {}, 1)).toString()).toBe('FL1\0train\0{}');
  });

  it('writes RFC 8785 JSON: numbers as ECMAScript prints them, strings escaped as JSON.stringify does', () => {
    expect(canonicalJson({ n: [1e21, 1e-7, -0, 0.1 + 0.2, 5e-324, 1e300 * 10, 100] })).toBe('{"n":[1e+21,1e-7,0,0.30000000000000004,5e-324,1e+301,100]}');
    expect(canonicalJson({ s: 'é\u2028\u0001"\\/' })).toBe('{"s":"é\u2028\\u0001\\"\\\\/"}');
    // Keys sort by UTF-16 code units, not code points: U+FFFD before U+1F600's surrogate pair would be wrong.
    expect(canonicalJson({ '\ud83d\ude00': 1, '\ufffd': 2, a: 3 })).toBe('{"a":3,"\ud83d\ude00":1,"\ufffd":2}');
  });

  it('refuses what RFC 8785 leaves undefined: lone surrogates, a missing value', () => {
    expect(() => canonicalJson({ s: 'a\ud800' })).toThrow(/lone surrogate/);
    expect(() => canonicalJson({ ['\udc00']: 1 })).toThrow(/lone surrogate/);
    expect(() => canonicalJson(undefined)).toThrow(/undefined/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function/);
  });
});

describe('signatures', () => {
  const pair = generateKeyPair();
  const header = { type: 'update', round: 3, participant: 'bank-a' };

  it('verifies a signature made for the same domain and header', () => {
    const signature = signHeader('update', header, pair.secretKey);
    expect(verifyHeader('update', header, signature, pair.publicKey)).toBe(true);
  });

  it('refuses the same signature replayed under another domain', () => {
    const signature = signHeader('update', header, pair.secretKey);
    expect(verifyHeader('statistics', header, signature, pair.publicKey)).toBe(false);
  });

  it('refuses a header changed after signing', () => {
    const signature = signHeader('update', header, pair.secretKey);
    expect(verifyHeader('update', { ...header, round: 4 }, signature, pair.publicKey)).toBe(false);
  });

  it('keeps the versions apart: a version-1 signature verifies as version 1 only', () => {
    const v1 = Buffer.from(defaultEngine.sign(canonicalBytes('update', header, 1), pair.secretKey)).toString('base64');
    expect(verifyHeader('update', header, v1, pair.publicKey, defaultEngine, 1)).toBe(true);
    expect(verifyHeader('update', header, v1, pair.publicKey)).toBe(false);
    expect(verifyHeader('update', header, signHeader('update', header, pair.secretKey), pair.publicKey, defaultEngine, 1)).toBe(false);
  });

  it('refuses another key and malformed signatures', () => {
    const signature = signHeader('update', header, pair.secretKey);
    expect(verifyHeader('update', header, signature, generateKeyPair().publicKey)).toBe(false);
    expect(verifyHeader('update', header, 'AAAA', pair.publicKey)).toBe(false);
  });

  it('uses node:crypto on this runtime', () => {
    expect(defaultEngine.name).toBe('node:crypto');
  });

  it('tweetnacl and node:crypto make identical signatures and verify each other', () => {
    for (let i = 0; i < 20; i++) {
      const keys = generateKeyPair();
      const h = { type: 'update', i, nonce: `n${i}` };
      const byNacl = signHeader('update', h, keys.secretKey, tweetnaclEngine);
      const byNode = signHeader('update', h, keys.secretKey, defaultEngine);
      expect(byNode).toBe(byNacl);
      expect(verifyHeader('update', h, byNacl, keys.publicKey, defaultEngine)).toBe(true);
      expect(verifyHeader('update', h, byNode, keys.publicKey, tweetnaclEngine)).toBe(true);
    }
  });
});

describe('keys', () => {
  it('decodes only well-formed 32-byte public keys', () => {
    const pair = generateKeyPair();
    expect(decodePublicKey(encodeKey(pair.publicKey))).toEqual(pair.publicKey);
    expect(decodePublicKey('abc')).toBeNull();
    expect(decodePublicKey(encodeKey(new Uint8Array(31)))).toBeNull();
  });

  it('makes a stable, grouped fingerprint', () => {
    const pair = generateKeyPair();
    expect(fingerprint(pair.publicKey)).toMatch(/^([0-9a-f]{4}:){7}[0-9a-f]{4}$/);
    expect(fingerprint(pair.publicKey)).toBe(fingerprint(new Uint8Array(pair.publicKey)));
  });

  it('writes key files with mode 0600, reads them back and never overwrites one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-key-'));
    const file = path.join(dir, 'key.json');
    const written = writeKeyFile(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readKeyFile(file)).toEqual(written);
    expect(() => writeKeyFile(file)).toThrow();
    // Nothing else is left beside it: the key is written aside and linked in place, never half there.
    expect(fs.readdirSync(dir)).toEqual(['key.json']);
    expect(readKeyFile(file)).toEqual(written);
  });

  it('refuses a key file whose public key does not match', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-key-'));
    const file = path.join(dir, 'key.json');
    writeKeyFile(file);
    const body = JSON.parse(fs.readFileSync(file, 'utf8'));
    body.publicKey = encodeKey(generateKeyPair().publicKey);
    fs.writeFileSync(file, JSON.stringify(body));
    expect(() => readKeyFile(file)).toThrow(/does not match/);
  });
});
