/** How numbers, times and metric names read on the dashboard. */

export function formatNumber(value: number | undefined, digits = 4): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function formatAgo(ms: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return formatTime(ms);
}

/** `trainLoss` → `train loss`; `learningRate` → `learning rate`. */
export function words(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

/** Who an audit actor is, in a few words: `user:ada` → `ada`, `token:admin` → `the admin token`. */
export function formatActor(actor: string): string {
  const [kind, name] = actor.split(/:(.*)/);
  if (name === undefined) return actor;
  if (kind === 'user' || kind === 'participant') return name;
  if (kind === 'token') return name === 'admin' || name === 'viewer' ? `the ${name} token` : `API token ${shortId(name)}`;
  if (kind === 'invitation') return `invitation ${shortId(name)}`;
  return actor;
}

/** The start of an id or a hash: enough to tell them apart on a page, with the whole in a tooltip. */
export function shortId(id: string, length = 8): string {
  return id.length > length ? `${id.slice(0, length)}…` : id;
}
