/** A problem with the site's data that the site reports to the coordinator by its code and counts, never its values. */
import type { SiteFailureCode } from '@fl/shared';

export class DataError extends Error {
  constructor(
    readonly code: SiteFailureCode,
    readonly counts: Record<string, number>,
    message: string,
  ) {
    super(message);
    this.name = 'DataError';
  }
}
