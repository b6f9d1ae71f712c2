/**
 * The dashboard's texts: every language has every text of English, each with
 * the same placeholders, and a plural in each of the forms its language has
 * (Intl's plural rules); and every text the code names exists in English.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AUDIT_KINDS, JobSpecSchema } from '@fl/shared';
import { REPO_ROOT } from './harness';

const SOURCE = path.join(REPO_ROOT, 'coordinator', 'dashboard', 'src');
const LOCALES = path.join(SOURCE, 'locales');
const LANGUAGES = ['en', 'fr', 'de', 'es', 'zh'];
const PLURAL = /_(zero|one|two|few|many|other)$/;

type Texts = { [key: string]: string | Texts };

function flatten(texts: Texts, prefix = ''): Map<string, string> {
  const flat = new Map<string, string>();
  for (const [key, value] of Object.entries(texts)) {
    if (typeof value === 'string') flat.set(prefix + key, value);
    else for (const [k, v] of flatten(value, `${prefix}${key}.`)) flat.set(k, v);
  }
  return flat;
}

const load = (language: string) => flatten(JSON.parse(fs.readFileSync(path.join(LOCALES, `${language}.json`), 'utf8')) as Texts);

/** `{{name}}` and `{{value, number}}` name `name` and `value`; `<code>…</code>` names `code`. */
function placeholders(text: string): string[] {
  const names = [...text.matchAll(/\{\{\s*([A-Za-z0-9_]+)/g)].map((m) => `{{${m[1]}}}`);
  const tags = [...text.matchAll(/<([A-Za-z0-9]+)>/g)].map((m) => `<${m[1]}>`);
  return [...new Set([...names, ...tags])].sort();
}

/** A text's key without its plural ending, and the plural forms each key has. */
function byBase(texts: Map<string, string>): Map<string, { forms: string[]; text: string }> {
  const bases = new Map<string, { forms: string[]; text: string }>();
  for (const [key, text] of texts) {
    const form = PLURAL.exec(key)?.[1];
    const base = form ? key.slice(0, -form.length - 1) : key;
    const entry = bases.get(base) ?? { forms: [], text };
    if (form) entry.forms.push(form);
    // The `other` form is the one every language has: the placeholders are compared on it.
    if (!form || form === 'other') entry.text = text;
    bases.set(base, entry);
  }
  return bases;
}

describe("the dashboard's translations", () => {
  const english = byBase(load('en'));

  it('has English texts', () => {
    expect(english.size).toBeGreaterThan(200);
  });

  it.each(LANGUAGES.filter((l) => l !== 'en'))('%s has every text of English, with the same placeholders and its own plural forms', (language) => {
    const texts = byBase(load(language));
    const categories = new Intl.PluralRules(language).resolvedOptions().pluralCategories.slice().sort();
    expect([...texts.keys()].sort()).toEqual([...english.keys()].sort());
    for (const [key, { forms, text }] of english) {
      const translated = texts.get(key)!;
      expect({ key, placeholders: placeholders(translated.text) }).toEqual({ key, placeholders: placeholders(text) });
      expect({ key, empty: translated.text.trim() === '' }).toEqual({ key, empty: false });
      // A plural has exactly the forms the language tells apart; other texts have none.
      expect({ key, forms: translated.forms.sort() }).toEqual({ key, forms: forms.length ? categories : [] });
    }
  });

  it('translates: no text outside names and codes is left as the English one', () => {
    const same = new Set<string>();
    for (const language of LANGUAGES.filter((l) => l !== 'en')) {
      const texts = load(language);
      const words = (text: string) => text.replace(/\{\{[^}]*\}\}|<[^>]+>/g, '').replace(/[^\p{L}]/gu, '');
      for (const [key, text] of load('en')) if (words(text).length > 12 && texts.get(key) === text) same.add(`${language}:${key}`);
    }
    expect([...same]).toEqual([]);
  });

  it('names in the code only texts that English has', () => {
    const texts = load('en');
    const bases = new Set([...texts.keys()].map((k) => k.replace(PLURAL, '')));
    const named = new Set<string>();
    const files = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [path.join(dir, e.name)] : []));
    for (const file of files(SOURCE)) {
      const code = fs.readFileSync(file, 'utf8');
      for (const m of code.matchAll(/\bt\(\s*'([A-Za-z0-9_.-]+)'|i18nKey="([A-Za-z0-9_.-]+)"|\? '([a-zA-Z]+\.[A-Za-z0-9_.-]+)' : '([a-zA-Z]+\.[A-Za-z0-9_.-]+)'/g)) {
        for (const key of m.slice(1)) if (key) named.add(key);
      }
    }
    expect(named.size).toBeGreaterThan(150);
    expect([...named].filter((key) => !bases.has(key))).toEqual([]);
  });

  it('names each kind of audit record, and no kind that is gone', () => {
    const texts = load('en');
    const named = [...texts.keys()].filter((key) => key.startsWith('auditKinds.')).map((key) => key.slice('auditKinds.'.length));
    expect(named.sort()).toEqual([...AUDIT_KINDS].sort());
  });

  it("has a text for each rule the job schema adds, with every value the text names", () => {
    // Prepare: the rules the schema's source names, and specs that break those that carry values
    const texts = load('en');
    const sources = ['protocol/job.ts', 'secagg/compat.ts', 'secagg/statistics-layout.ts'].map((f) => fs.readFileSync(path.join(REPO_ROOT, 'shared', 'src', f), 'utf8'));
    const named = new Set(sources.flatMap((code) => [...code.matchAll(/\brule: '([A-Za-z]+)'/g)].map((m) => m[1])));
    const base = { model: 'logistic', target: 'y', features: [{ name: 'a', type: 'numeric', bounds: [0, 1] }], classes: ['0', '1'], minParticipants: 3 };
    const broken = [
      { ...base, features: [...base.features, { name: 'a', type: 'numeric', bounds: [1, 0] }] },
      { ...base, strategy: { name: 'krum' }, secureAggregation: {} },
      { ...base, secureAggregation: { threshold: 4, neighbours: 6 } },
      { ...base, features: [{ name: 'b', type: 'numeric' }], secureAggregation: {} },
      { ...base, maxRowsPerParticipant: Number.MAX_SAFE_INTEGER, secureAggregation: { statisticsLevels: 2 ** 30 } },
      { ...base, strategy: { name: 'median' }, dp: { noiseMultiplier: 1, clipNorm: 1, delta: 1e-5 } },
      { ...base, classes: ['0', '1', '2'], positiveClass: '3' },
      { ...base, model: 'linear', target: undefined, classes: undefined },
    ];
    // Execute
    const issues = broken.flatMap((spec) => {
      const parsed = JobSpecSchema.safeParse(spec);
      if (parsed.success) throw new Error(`not refused: ${JSON.stringify(spec)}`);
      return parsed.error.issues.filter((issue) => issue.code === 'custom');
    });
    // Assert: each rule has its text, no text is left of a rule gone, and each value a text names comes with its rule
    expect(named.size).toBeGreaterThan(25);
    expect([...named].filter((rule) => !texts.has(`jobRules.${rule}`))).toEqual([]);
    expect([...texts.keys()].filter((key) => key.startsWith('jobRules.') && !named.has(key.slice('jobRules.'.length)))).toEqual([]);
    const seen = new Set<string>();
    for (const issue of issues) {
      const params = issue.params as { rule?: string } & Record<string, unknown>;
      expect(named.has(params.rule!)).toBe(true);
      seen.add(params.rule!);
      const missing = placeholders(texts.get(`jobRules.${params.rule}`)!).filter((p) => !(p.slice(2, -2) in params));
      expect({ rule: params.rule, missing }).toEqual({ rule: params.rule, missing: [] });
    }
    for (const rule of ['duplicateFeature', 'boundsOrder', 'secureNeedsUpdates', 'thresholdAboveRound', 'secureBounds', 'secureStatisticsBits', 'centralDpStrategy', 'logisticClasses', 'positiveClassUnknown', 'modelWithoutTarget']) {
      expect(seen).toContain(rule);
    }
  });
});
