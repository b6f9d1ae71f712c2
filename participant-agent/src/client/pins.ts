/**
 * Pinned coordinator keys, like SSH's known_hosts: the first contact with a
 * coordinator records its key; any later contact must present the same key.
 */
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
    fs.writeFileSync(this.file, JSON.stringify(pins, null, 2) + '\n', { mode: 0o600 });
  }

  private read(): Record<string, string> {
    if (!fs.existsSync(this.file)) return {};
    const parsed = PinsSchema.safeParse(JSON.parse(fs.readFileSync(this.file, 'utf8')));
    if (!parsed.success) throw new Error(`${this.file} is not a file of pinned coordinator keys`);
    return parsed.data;
  }
}
