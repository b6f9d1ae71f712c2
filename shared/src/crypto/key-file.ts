/** Key files: a JSON file, created with mode 0600, holding one Ed25519 key pair. */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { encodeKey, generateKeyPair, keyPairFromSecretKey, type KeyPair } from './keys';

const KeyFileSchema = z.object({
  type: z.literal('fl-ed25519'),
  publicKey: z.string(),
  secretKey: z.string(),
});

export function writeKeyFile(file: string, pair: KeyPair = generateKeyPair()): KeyPair {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const body = { type: 'fl-ed25519', publicKey: encodeKey(pair.publicKey), secretKey: encodeKey(pair.secretKey) };
  // Written aside, then linked in place: a crash mid-write leaves no half key file, and a link never
  // replaces an existing key (losing a key means losing an identity).
  const text = JSON.stringify(body, null, 2) + '\n';
  // A name no crash can have left: a pid recurs (a container's is often 1).
  const partial = `${file}.${randomBytes(6).toString('hex')}.partial`;
  fs.writeFileSync(partial, text, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(partial, file);
  } catch (err) {
    // A file system without hard links: written in place, refusing an existing key all the same.
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  } finally {
    fs.rmSync(partial, { force: true });
  }
  return pair;
}

export function readKeyFile(file: string): KeyPair {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read key file ${file}: ${(err as Error).message}`);
  }
  const body = KeyFileSchema.safeParse(parsed);
  if (!body.success) throw new Error(`${file} is not an fl-ed25519 key file`);
  const secret = new Uint8Array(Buffer.from(body.data.secretKey, 'base64'));
  if (secret.length !== 64) throw new Error(`${file}: the secret key has ${secret.length} bytes, not the 64 of an Ed25519 secret key`);
  const pair = keyPairFromSecretKey(secret);
  if (encodeKey(pair.publicKey) !== body.data.publicKey) {
    throw new Error(`${file}: the public key does not match the secret key`);
  }
  return pair;
}

/** Reads the key file, creating it first when it does not exist. */
export function loadOrCreateKeyFile(file: string): KeyPair {
  return fs.existsSync(file) ? readKeyFile(file) : writeKeyFile(file);
}
