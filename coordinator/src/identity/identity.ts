/**
 * The coordinator's own Ed25519 identity, created on first start in the data
 * directory (mode 0600), or read from a key file made beforehand (--key-file),
 * which replicas share. Agents pin its public key and refuse any model or
 * instruction it did not sign.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  encodeKey,
  fingerprint,
  loadOrCreateKeyFile,
  readKeyFile,
  writeKeyFile,
  sealAuditRecord,
  signHeader,
  type AuditRecord,
  type KeyPair,
  type SignatureDomain,
  type UnsignedAuditRecord,
} from '@fl/shared';

/** Why a --key-file cannot serve: missing, unreadable, or not a key file. */
export type KeyFileProblem = 'KEY_FILE_MISSING' | 'KEY_FILE_UNREADABLE' | 'KEY_FILE_INVALID' | 'KEY_FILE_EXISTS';

export class KeyFileError extends Error {
  constructor(
    readonly code: KeyFileProblem,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'KeyFileError';
  }
}

/** The key pair in a key file made beforehand; never creates one (it is usually a read-only mounted secret). */
export function readCoordinatorKeyFile(file: string): KeyPair {
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KeyFileError('KEY_FILE_MISSING', `${file} does not exist (make one with: fl-coordinator key generate ${file})`);
    throw new KeyFileError('KEY_FILE_UNREADABLE', `cannot read ${file}: ${code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
  }
  try {
    return readKeyFile(file);
  } catch (err) {
    throw new KeyFileError('KEY_FILE_INVALID', `${file} is not a coordinator key file (${(err as Error).message})`);
  }
}

/** Writes a new coordinator key file (mode 0600); refuses to replace one, since losing a key loses the identity agents pinned. */
export function generateCoordinatorKeyFile(file: string): CoordinatorIdentity {
  try {
    return new CoordinatorIdentity(writeKeyFile(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new KeyFileError('KEY_FILE_EXISTS', `${file} exists already: it is not replaced`);
    throw new KeyFileError('KEY_FILE_UNREADABLE', `cannot write ${file}: ${(err as Error).message}`);
  }
}

export class CoordinatorIdentity {
  readonly publicKey: string;
  readonly fingerprint: string;

  constructor(private readonly keys: KeyPair) {
    this.publicKey = encodeKey(keys.publicKey);
    this.fingerprint = fingerprint(keys.publicKey);
  }

  static fromDataDir(dataDir: string): CoordinatorIdentity {
    return new CoordinatorIdentity(loadOrCreateKeyFile(path.join(dataDir, 'coordinator-key.json')));
  }

  /** The key file given (--key-file), which must exist; else the data directory's, created on first start. */
  static load(location: { keyFile?: string; dataDir: string }): CoordinatorIdentity {
    return location.keyFile ? new CoordinatorIdentity(readCoordinatorKeyFile(location.keyFile)) : CoordinatorIdentity.fromDataDir(location.dataDir);
  }

  sign(domain: SignatureDomain, header: unknown): string {
    return signHeader(domain, header, this.keys.secretKey);
  }

  /** Hashes and signs an audit record. */
  seal(record: UnsignedAuditRecord): AuditRecord {
    return sealAuditRecord(record, this.keys.secretKey);
  }
}
