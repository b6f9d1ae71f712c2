/**
 * A mapping's conversions: from the units, currencies and date formats a site
 * exports in to the ones the job declares, applied as the values are read, so
 * that the statistics and the training see the job's units only. Pure: the
 * mapping file is read in mapping.ts, the values in table.ts.
 *
 *   { "scale": 1000, "offset": 0 }                   value * scale + offset
 *   { "date": "DD/MM/YYYY" }                         a date in that format, as days since 1970-01-01
 *   { "from": "USD", "to": "EUR", "rate": 0.92 }     a currency, at the declared rate (1 USD = 0.92 EUR)
 *   { "from": "lb", "to": "kg" }                     a physical unit, by its exact factor
 */
import { DEFAULT_DATE_FORMAT, type JobSpec } from '@fl/shared';
import { z } from 'zod';
import { DataError } from './errors';

/** A unit the agent converts by itself: its dimension and its size in that dimension's base unit (and, for temperatures, the base value of its zero). */
interface KnownUnit {
  dimension: string;
  factor: number;
  offset?: number;
}

// Exact by definition (SI and the international yard and pound agreement of 1959).
const POUND = 0.45359237;
const INCH = 0.0254;
const US_GALLON = 231 * INCH ** 3 * 1000;
const IMPERIAL_GALLON = 4.54609;

/**
 * The physical units a mapping may name without a rate. Months and years form a
 * dimension of their own: a loan term of 2 years is 24 months, but how many days
 * a month has depends on which.
 */
export const KNOWN_UNITS: Readonly<Record<string, KnownUnit>> = {
  mg: { dimension: 'mass', factor: 1e-6 },
  g: { dimension: 'mass', factor: 1e-3 },
  kg: { dimension: 'mass', factor: 1 },
  t: { dimension: 'mass', factor: 1000 },
  oz: { dimension: 'mass', factor: POUND / 16 },
  lb: { dimension: 'mass', factor: POUND },
  st: { dimension: 'mass', factor: POUND * 14 },
  mm: { dimension: 'length', factor: 1e-3 },
  cm: { dimension: 'length', factor: 1e-2 },
  m: { dimension: 'length', factor: 1 },
  km: { dimension: 'length', factor: 1000 },
  in: { dimension: 'length', factor: INCH },
  ft: { dimension: 'length', factor: INCH * 12 },
  yd: { dimension: 'length', factor: INCH * 36 },
  mi: { dimension: 'length', factor: INCH * 63_360 },
  m2: { dimension: 'area', factor: 1 },
  ha: { dimension: 'area', factor: 10_000 },
  km2: { dimension: 'area', factor: 1e6 },
  ft2: { dimension: 'area', factor: (INCH * 12) ** 2 },
  acre: { dimension: 'area', factor: 4046.8564224 },
  mL: { dimension: 'volume', factor: 1e-3 },
  L: { dimension: 'volume', factor: 1 },
  m3: { dimension: 'volume', factor: 1000 },
  gal: { dimension: 'volume', factor: US_GALLON },
  'imp gal': { dimension: 'volume', factor: IMPERIAL_GALLON },
  s: { dimension: 'time', factor: 1 },
  min: { dimension: 'time', factor: 60 },
  h: { dimension: 'time', factor: 3600 },
  d: { dimension: 'time', factor: 86_400 },
  wk: { dimension: 'time', factor: 604_800 },
  month: { dimension: 'calendar time', factor: 1 },
  year: { dimension: 'calendar time', factor: 12 },
  K: { dimension: 'temperature', factor: 1 },
  degC: { dimension: 'temperature', factor: 1, offset: 273.15 },
  degF: { dimension: 'temperature', factor: 5 / 9, offset: 273.15 - (32 * 5) / 9 },
  Pa: { dimension: 'pressure', factor: 1 },
  kPa: { dimension: 'pressure', factor: 1000 },
  bar: { dimension: 'pressure', factor: 100_000 },
  mmHg: { dimension: 'pressure', factor: 133.322387415 },
  psi: { dimension: 'pressure', factor: (POUND * 9.80665) / INCH ** 2 },
  J: { dimension: 'energy', factor: 1 },
  kJ: { dimension: 'energy', factor: 1000 },
  kcal: { dimension: 'energy', factor: 4184 },
  kWh: { dimension: 'energy', factor: 3.6e6 },
};

/** A currency is named by its ISO 4217 code; it converts only at a rate the mapping declares, as rates change. */
const CURRENCY = /^[A-Z]{3}$/;

const DATE_TOKENS = /YYYY|MM|DD|M|D/g;

/**
 * One object with every field optional rather than a union, so that a mistake is
 * named (an unknown field, a rate without its units) instead of "matches none".
 */
export const ConversionSchema = z.strictObject({
  /** value * scale + offset */
  scale: z.number().finite().optional(),
  offset: z.number().finite().optional(),
  /** the site's date format: YYYY, MM, DD (two digits), M, D (one or two), any other character as written */
  date: z.string().min(1).max(40).optional(),
  from: z.string().min(1).max(32).optional(),
  to: z.string().min(1).max(32).optional(),
  /** one `from` is worth this many `to`: required for currencies, refused for the units the agent knows */
  rate: z.number().positive().max(1e15).optional(),
});
export type Conversion = z.infer<typeof ConversionSchema>;

/** What a mapping does to a job column's values once checked against the job: a linear map, or a date format. */
export type ResolvedConversion =
  | { kind: 'linear'; scale: number; offset: number; description: string }
  | { kind: 'date'; format: string; parse: (text: string) => number | undefined; description: string };

/**
 * Whether a conversion makes sense on its own, before any job: a date format
 * with a year, a month and a day; units the agent knows or currencies with a
 * rate, of the same dimension. Returns the problem, or undefined.
 */
export function conversionProblem(conversion: Conversion): string | undefined {
  const { scale, offset, date, from, to, rate } = conversion;
  const kinds = [scale !== undefined || offset !== undefined, date !== undefined, from !== undefined || to !== undefined || rate !== undefined];
  if (kinds.filter(Boolean).length !== 1) return 'a conversion is one of { "scale", "offset" }, { "date" } or { "from", "to", "rate" }';
  if (date !== undefined) {
    try {
      dateParser(date);
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }
  if (!kinds[2]) return scale === 0 ? 'a scale of 0 would make every value the same' : undefined;
  if (from === undefined || to === undefined) return 'a unit conversion needs both "from" and "to"';
  const [a, b] = [KNOWN_UNITS[from], KNOWN_UNITS[to]];
  if (a && b) {
    if (a.dimension !== b.dimension) return `${from} (${a.dimension}) cannot be converted to ${to} (${b.dimension})`;
    if (rate !== undefined) return `${from} to ${to} has a fixed factor; a rate applies to currencies only`;
    return undefined;
  }
  for (const unit of [from, to]) {
    if (!KNOWN_UNITS[unit] && !CURRENCY.test(unit)) return `unknown unit "${unit}": neither a unit the agent knows (${Object.keys(KNOWN_UNITS).join(', ')}) nor a currency code such as EUR`;
  }
  if (a || b) return `${a ? from : to} is a physical unit and ${a ? to : from} a currency`;
  if (rate === undefined) return `converting ${from} to ${to} needs the rate the consortium agreed on: { "from": "${from}", "to": "${to}", "rate": ... }`;
  return undefined;
}

/**
 * The mapping's conversions for one job, refused where they disagree with it: a
 * unit other than the one the job declares, a date format on a column that is
 * not a date, any conversion on a categorical column. A date feature the mapping
 * does not convert is read in the default format. Conversions of columns the job
 * does not use are left alone: a mapping may serve several jobs.
 */
export function resolveConversions(spec: JobSpec, conversions: Readonly<Record<string, Conversion>> = {}): Map<string, ResolvedConversion> {
  const declared = new Map<string, JobSpec['features'][number] | { name: string; type: 'numeric' | 'categorical' }>(spec.features.map((f) => [f.name, f]));
  if (spec.target !== undefined) declared.set(spec.target, { name: spec.target, type: spec.model === 'linear' ? 'numeric' : 'categorical' });
  const resolved = new Map<string, ResolvedConversion>();
  for (const feature of spec.features) {
    if (feature.type === 'numeric' && feature.format === 'date' && !Object.hasOwn(conversions, feature.name)) {
      resolved.set(feature.name, dateConversion(DEFAULT_DATE_FORMAT));
    }
  }
  for (const [column, conversion] of Object.entries(conversions)) {
    const feature = declared.get(column);
    if (!feature) continue;
    const refuse = (why: string) => {
      throw new DataError('DATA_UNCONVERTIBLE', { columns: 1 }, `mapping: conversions.${column}: ${why}`);
    };
    if (feature.type !== 'numeric') refuse(`the job's column ${column} is categorical: only numbers and dates convert`);
    const unit = 'unit' in feature ? feature.unit : undefined;
    const isDate = 'format' in feature && feature.format === 'date';
    if (conversion.date !== undefined) {
      if (!isDate) refuse(`the job does not declare ${column} a date (format "date"), so a date format cannot apply`);
      resolved.set(column, dateConversion(conversion.date));
      continue;
    }
    if (isDate) refuse(`the job declares ${column} a date: give its format, { "date": "DD/MM/YYYY" }`);
    if (conversion.from !== undefined && conversion.to !== undefined) {
      if (unit === undefined) refuse(`the job declares no unit for ${column}, so a conversion to ${conversion.to} cannot be checked against it`);
      if (conversion.to !== unit) refuse(`converts to ${conversion.to}, but the job declares ${column} in ${unit}`);
      resolved.set(column, unitConversion(conversion.from, conversion.to, conversion.rate));
      continue;
    }
    const scale = conversion.scale ?? 1;
    const offset = conversion.offset ?? 0;
    resolved.set(column, { kind: 'linear', scale, offset, description: `x ${scale}${offset ? ` ${offset < 0 ? '-' : '+'} ${Math.abs(offset)}` : ''}` });
  }
  return resolved;
}

function unitConversion(from: string, to: string, rate: number | undefined): ResolvedConversion {
  const [a, b] = [KNOWN_UNITS[from], KNOWN_UNITS[to]];
  if (a && b) {
    // value in base units = value * factor + offset; back out of the base through `to`.
    const scale = a.factor / b.factor;
    const offset = ((a.offset ?? 0) - (b.offset ?? 0)) / b.factor;
    return { kind: 'linear', scale, offset, description: `${from} -> ${to} (x ${round(scale)}${offset ? ` ${offset < 0 ? '-' : '+'} ${round(Math.abs(offset))}` : ''})` };
  }
  return { kind: 'linear', scale: rate!, offset: 0, description: `${from} -> ${to} at ${rate}` };
}

const round = (x: number) => Number(x.toPrecision(6));

function dateConversion(format: string): ResolvedConversion {
  return { kind: 'date', format, parse: dateParser(format), description: `date ${format} -> days since 1970-01-01` };
}

/**
 * A parser for dates written in `format`, giving days since 1970-01-01 (UTC), or
 * undefined for text that is not such a date (31/02/2026 included).
 */
export function dateParser(format: string): (text: string) => number | undefined {
  const order: string[] = [];
  let pattern = '';
  let last = 0;
  for (const match of format.matchAll(DATE_TOKENS)) {
    pattern += escape(format.slice(last, match.index)) + (match[0] === 'YYYY' ? '(\\d{4})' : match[0].length === 2 ? '(\\d{2})' : '(\\d{1,2})');
    order.push(match[0][0]);
    last = match.index + match[0].length;
  }
  pattern += escape(format.slice(last));
  for (const part of ['Y', 'M', 'D']) {
    if (order.filter((p) => p === part).length !== 1) {
      throw new Error(`the date format "${format}" needs exactly one year (YYYY), one month (MM or M) and one day (DD or D)`);
    }
  }
  const regex = new RegExp(`^${pattern}$`);
  const [y, m, d] = ['Y', 'M', 'D'].map((part) => order.indexOf(part) + 1);
  return (text) => {
    const found = regex.exec(text.trim());
    if (!found) return undefined;
    return daysFromCivil(Number(found[y]), Number(found[m]), Number(found[d]));
  };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/** Days from 1970-01-01 to a date of the proleptic Gregorian calendar, or undefined when there is no such date. */
export function daysFromCivil(year: number, month: number, day: number): number | undefined {
  if (month < 1 || month > 12 || day < 1 || day > (month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1])) return undefined;
  // Integer arithmetic (H. Hinnant's days_from_civil): no Date object, no time zone, years 0 to 9999 alike.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** A date from a typed source (Parquet, PostgreSQL) as days since 1970-01-01: the day it falls on in UTC. */
export const daysOfDate = (date: Date): number => Math.floor(date.getTime() / 86_400_000);
