/**
 * Texts made from the API's data: its error codes as sentences in the
 * chosen language, who an audit actor is, and the names of the metrics.
 */
import type { TFunction } from 'i18next';
import { ApiError } from './api';
import { shortId, words } from './format';

/** The codes the dashboard's requests can be answered with; any other reads as a refusal naming its code. */
const EXPLAINED = new Set(['VALIDATION_FAILED', 'NOT_FOUND', 'CONFLICT', 'UNAUTHORIZED', 'FORBIDDEN', 'INTERNAL', 'TIMEOUT', 'RATE_LIMITED', 'NETWORK']);

/** A refused or failed request in the reader's language; the server's own words (in English) only where they name the value at fault. */
export function describeError(t: TFunction, err: unknown): string {
  if (!(err instanceof ApiError)) return t('apiErrors.unexpected', { detail: String(err) });
  if (!EXPLAINED.has(err.code)) return t('apiErrors.other', { code: err.code });
  return t(`apiErrors.${err.code}`, { detail: err.message });
}

/** Who an audit actor is, in a few words: `user:ada` → `ada`, `token:admin` → `the admin token`. */
export function formatActor(t: TFunction, actor: string): string {
  const [kind, name] = actor.split(/:(.*)/);
  if (name === undefined) return actor;
  if (kind === 'user' || kind === 'participant') return name;
  if (kind === 'token' && name === 'admin') return t('actors.adminToken');
  if (kind === 'token' && name === 'viewer') return t('actors.viewerToken');
  if (kind === 'token') return t('actors.apiToken', { id: shortId(name) });
  if (kind === 'invitation') return t('actors.invitation', { id: shortId(name) });
  return actor;
}

const METRICS = new Set(['trainLoss', 'trainAccuracy', 'loss', 'accuracy', 'mse', 'inertia']);

/** A metric's name; one the dashboard has no text for is shown in words. */
export function metricName(t: TFunction, name: string): string {
  return METRICS.has(name) ? t(`metrics.${name}`) : words(name);
}
