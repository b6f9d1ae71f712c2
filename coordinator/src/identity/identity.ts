/**
 * The coordinator's own Ed25519 identity, created on first start in the data
 * directory (mode 0600). Agents pin its public key and refuse any model or
 * instruction it did not sign.
 */
import * as path from 'node:path';
import {
  encodeKey,
  fingerprint,
  loadOrCreateKeyFile,
  sealAuditRecord,
  signHeader,
  type AuditRecord,
  type KeyPair,
  type SignatureDomain,
  type UnsignedAuditRecord,
} from '@fl/shared';

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

  sign(domain: SignatureDomain, header: unknown): string {
    return signHeader(domain, header, this.keys.secretKey);
  }

  /** Hashes and signs an audit record. */
  seal(record: UnsignedAuditRecord): AuditRecord {
    return sealAuditRecord(record, this.keys.secretKey);
  }
}
