/**
 * Pinned coordinator keys, like SSH's known_hosts: the first contact with a
 * coordinator records its key; any later contact must present the same key.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

const PinsSchema = z.record(z.string(), z.string());

export class CoordinatorPins {
  constructor(private readonly file: string) {}

  get(origin: string): string | undefined {
    return this.read()[origin];
  }

  /** The origins pinned to a key: which coordinator a key (e.g. an audit bundle's) is known as. */
  originsOf(publicKey: string): string[] {
    return Object.entries(this.read())
      .filter(([, key]) => key === publicKey)
      .map(([origin]) => origin);
  }

  pin(origin: string, publicKey: string): void {
    const pins = { ...this.read(), [origin]: publicKey };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    // Written aside, then renamed over the file: a crash mid-write leaves the old pins, never half a file.
    const partial = `${this.file}.${randomBytes(6).toString('hex')}.partial`;
    fs.writeFileSync(partial, JSON.stringify(pins, null, 2) + '\n', { mode: 0o600 });
    fs.renameSync(partial, this.file);
  }

  /** The pins; an error naming the file when it cannot be read as pins, which must not be guessed at. */
  read(): Record<string, string> {
    if (!fs.existsSync(this.file)) return {};
    const fix = 'correct it, or remove it and compare the coordinator key fingerprint out of band at the next contact';
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new Error(`${this.file} cannot be read as pinned coordinator keys (${(err as Error).message}): ${fix}`);
    }
    const parsed = PinsSchema.safeParse(json);
    if (!parsed.success) throw new Error(`${this.file} is not a file of pinned coordinator keys (an object of origin to key): ${fix}`);
    return parsed.data;
  }
}
