/**
 * How numbers, times and durations read on the dashboard: Intl's formats for
 * the chosen language, through i18next's formatter (which caches them).
 */
import { currentLanguage, i18n } from './i18n';

function format(value: unknown, kind: 'number' | 'datetime' | 'relativetime', options: Record<string, unknown>): string {
  return String(i18n.services.formatter!.format(value, kind, currentLanguage(), options));
}

export function formatNumber(value: number | undefined, digits = 4): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return format(value, 'number', { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
}

/** A whole number with the language's grouping, e.g. a count of samples. */
export function formatCount(value: number): string {
  return format(value, 'number', { maximumFractionDigits: 0 });
}

/** At most `digits` significant digits, e.g. a chart's axis ticks. */
export function formatSignificant(value: number, digits: number): string {
  return format(value, 'number', { maximumSignificantDigits: digits });
}

export function formatSeconds(ms: number): string {
  return format(ms / 1000, 'number', { style: 'unit', unit: 'second', unitDisplay: 'short', minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function formatTime(ms: number): string {
  return format(new Date(ms), 'datetime', { dateStyle: 'medium', timeStyle: 'medium' });
}

/** "5 min ago" in the language's words; past a day, the date itself. */
export function formatAgo(ms: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  const ago = (value: number, range: string) => format(-value, 'relativetime', { range, style: 'short', numeric: 'always' });
  if (seconds < 60) return ago(seconds, 'second');
  if (seconds < 3600) return ago(Math.floor(seconds / 60), 'minute');
  if (seconds < 86_400) return ago(Math.floor(seconds / 3600), 'hour');
  return formatTime(ms);
}

/** `trainLoss` → `train loss`; `learningRate` → `learning rate`: for names no text is written for. */
export function words(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/** The start of an id or a hash: enough to tell them apart on a page, with the whole in a tooltip. */
export function shortId(id: string, length = 8): string {
  return id.length > length ? `${id.slice(0, length)}…` : id;
}
