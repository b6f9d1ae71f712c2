/**
 * Gathering a secure job's vocabularies (docs/privacy.md, ADR 0030): the
 * categories of the categorical features that declare none, revealing only
 * those held by at least `minSites` sites, in two secure rounds before the
 * statistics.
 *
 * - Presence (round −2): per gathered feature, one ring word per hash bucket,
 *   1 where the site holds a value hashing there. The sum says, per bucket, how
 *   many sites hold something in it; no value is in it.
 * - Values (round −1): for each bucket held by at least `minSites` sites, the
 *   holding sites add 1, the value's length, the first 4 bytes of its SHA-256
 *   and its bytes, one byte a word. The sum is c times each, which divides
 *   exactly when the c sites hold the same value; two values sharing the
 *   bucket fail the division or the checksum, and the bucket is dropped.
 */
import { createHash, createHmac } from 'node:crypto';
import { FlError } from '../protocol/errors';
import type { JobSpec } from '../protocol/job';

type Spec = Pick<JobSpec, 'features'> & { secureAggregation?: { vocabulary?: VocabularyOptions } };
export interface VocabularyOptions {
  minSites: number;
  buckets: number;
  maxBytes: number;
}
/** Per gathered feature (in spec order), the buckets held by at least minSites sites, ascending. */
export type FrequentBuckets = number[][];

/** The indices of the features whose categories a job gathers. */
export function gatheredFeatures(spec: Spec): number[] {
  if (!spec.secureAggregation?.vocabulary) return [];
  return spec.features.flatMap((f, i) => (f.type === 'categorical' && !f.categories ? [i] : []));
}

const optionsOf = (spec: Spec): VocabularyOptions => {
  const options = spec.secureAggregation?.vocabulary;
  if (!options) throw new Error('the job gathers no vocabulary');
  return options;
};

/** A value's bucket: keyed by the job, so buckets differ between jobs; the key is no secret from the coordinator (ADR 0030). */
export function bucketOf(job: string, feature: string, value: string, buckets: number): number {
  const mac = createHmac('sha256', `fl-vocabulary ${job}`).update(`${feature}\0${value}`).digest();
  return mac.readUInt32BE(0) % buckets;
}

/** Words of the presence vector. */
export const presenceWords = (spec: Spec): number => gatheredFeatures(spec).length * optionsOf(spec).buckets;

/** A site's presence vector, from the distinct values it holds of each gathered feature (in gatheredFeatures order). */
export function encodePresence(job: string, spec: Spec, values: string[][]): Uint32Array {
  const { buckets } = optionsOf(spec);
  const gathered = gatheredFeatures(spec);
  const out = new Uint32Array(presenceWords(spec));
  gathered.forEach((f, g) => {
    for (const value of values[g]) out[g * buckets + bucketOf(job, spec.features[f].name, value, buckets)] = 1;
  });
  return out;
}

/** The buckets held by at least minSites sites, from the presence sum over `parties` sites. */
export function frequentBuckets(sum: Uint32Array, spec: Spec, parties: number): FrequentBuckets {
  const { buckets, minSites } = optionsOf(spec);
  if (sum.length !== presenceWords(spec)) throw new FlError('IMPLAUSIBLE_STATISTICS', `a presence sum of ${sum.length} words, not ${presenceWords(spec)}`);
  return gatheredFeatures(spec).map((_, g) => {
    const frequent: number[] = [];
    for (let b = 0; b < buckets; b++) {
      const sites = sum[g * buckets + b];
      if (sites > parties) throw new FlError('IMPLAUSIBLE_STATISTICS', `the presence sum counts ${sites} sites in a bucket, of ${parties}`);
      if (sites >= minSites) frequent.push(b);
    }
    return frequent;
  });
}

/** Words a bucket's slot takes in the values vector: the count, the length, 4 checksum bytes, the value's bytes. */
const slotWords = (maxBytes: number) => 2 + 4 + maxBytes;

export const valueWords = (spec: Spec, frequent: FrequentBuckets): number => frequent.reduce((n, b) => n + b.length, 0) * slotWords(optionsOf(spec).maxBytes);

const checksum = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest().subarray(0, 4);

/**
 * A site's values vector: in each frequent bucket, its one value hashing there.
 * A site holding two values in one bucket, or a value longer than maxBytes,
 * adds nothing for them.
 */
export function encodeValues(job: string, spec: Spec, values: string[][], frequent: FrequentBuckets): Uint32Array {
  const { buckets, maxBytes } = optionsOf(spec);
  const slot = slotWords(maxBytes);
  const gathered = gatheredFeatures(spec);
  const out = new Uint32Array(valueWords(spec, frequent));
  let base = 0;
  gathered.forEach((f, g) => {
    const inBucket = new Map<number, string[]>();
    for (const value of values[g]) {
      const b = bucketOf(job, spec.features[f].name, value, buckets);
      inBucket.set(b, [...(inBucket.get(b) ?? []), value]);
    }
    frequent[g].forEach((b, k) => {
      const held = inBucket.get(b);
      if (held?.length !== 1) return;
      const bytes = Buffer.from(held[0], 'utf8');
      if (bytes.length > maxBytes) return;
      const at = base + k * slot;
      out[at] = 1;
      out[at + 1] = bytes.length;
      checksum(bytes).forEach((byte, i) => (out[at + 2 + i] = byte));
      bytes.forEach((byte, i) => (out[at + 6 + i] = byte));
    });
    base += frequent[g].length * slot;
  });
  return out;
}

/**
 * The values the sum reveals, per gathered feature, sorted: those of the
 * buckets whose c holders (at least minSites) all hold the same value.
 * `dropped` counts buckets whose values collided.
 */
export function gatheredValues(sum: Uint32Array, spec: Spec, frequent: FrequentBuckets): { categories: string[][]; dropped: number } {
  const { maxBytes, minSites } = optionsOf(spec);
  const slot = slotWords(maxBytes);
  if (sum.length !== valueWords(spec, frequent)) throw new FlError('IMPLAUSIBLE_STATISTICS', `a values sum of ${sum.length} words, not ${valueWords(spec, frequent)}`);
  let dropped = 0;
  let base = 0;
  const categories = frequent.map((bucketsOfFeature) => {
    const found: string[] = [];
    bucketsOfFeature.forEach((_, k) => {
      const at = base + k * slot;
      const c = sum[at];
      // Fewer holders than in the presence round (some dropped): kept out, as they would be from the start.
      if (c < minSites) return;
      const words = sum.subarray(at + 1, at + slot);
      const bytes = Array.from(words, (w) => w / c);
      const length = bytes[0];
      const value = Uint8Array.from(bytes.slice(5, 5 + length));
      const exact = bytes.every((b) => Number.isInteger(b) && b <= 255) && length <= maxBytes && bytes.slice(5 + length).every((b) => b === 0);
      if (!exact || !Buffer.from(checksum(value)).equals(Buffer.from(bytes.slice(1, 5)))) {
        dropped++;
        return;
      }
      found.push(Buffer.from(value).toString('utf8'));
    });
    base += bucketsOfFeature.length * slot;
    return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  });
  return { categories, dropped };
}

/** The job as its statistics round sees it: the gathered categories declared. */
export function withCategories<S extends Spec>(spec: S, categories: string[][]): S {
  const gathered = gatheredFeatures(spec);
  const features = spec.features.map((f, i) => {
    const g = gathered.indexOf(i);
    return g < 0 ? f : { ...f, categories: categories[g] };
  });
  return { ...spec, features };
}
