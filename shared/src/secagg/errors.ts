/**
 * Why a secure-aggregation step refused or failed, with what each means; the
 * code travels in the protocol's error replies and in a site's failure report.
 */
export const SECAGG_ERRORS = {
  SECAGG_QUANTIZATION: 'the masked input cannot be quantized into the ring',
  SECAGG_WRONG_LENGTH: 'a vector of the wrong length',
  SECAGG_BAD_KEY: 'a neighbour’s key is not a usable key',
  SECAGG_BAD_SIGNATURE: 'a neighbour’s keys are not signed by its identity key, or are for another round',
  SECAGG_BAD_SHARE: 'a share does not decrypt, has the wrong length, or does not fit the other shares of its secret',
  SECAGG_NOT_NEIGHBOUR: 'the request names a party that is not the site’s neighbour',
  SECAGG_BOTH_SHARES: 'the unmask request asks for both shares of a party',
  SECAGG_ALREADY_ANSWERED: 'the site already revealed its shares for the round',
  SECAGG_TOO_FEW_NEIGHBOURS: 'fewer neighbours than the threshold advertised keys or sent shares',
  SECAGG_THRESHOLD: 'fewer shares than the threshold',
  SECAGG_OUT_OF_RANGE: 'the unmasked sum lies outside what honest inputs can make: a party masked an input beyond its range or weight',
  // A second statistics sum of one job over other sites, whose difference from the first would reveal a site.
  SECAGG_STATISTICS_AGAIN: 'the site already helped unmask this statistics round over other sites',
  SECAGG_NO_KEYS: 'the site holds no keys of the round (it restarted since it advertised them)',
  SECAGG_PHASE: 'the request does not fit the round’s steps',
} as const;
export type SecAggErrorCode = keyof typeof SECAGG_ERRORS;

export class SecAggError extends Error {
  constructor(
    readonly code: SecAggErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SecAggError';
  }
}
