/** Why a secure-aggregation step refused or failed; the code travels in the protocol's error replies. */
export type SecAggErrorCode =
  | 'SECAGG_QUANTIZATION'
  | 'SECAGG_WRONG_LENGTH'
  | 'SECAGG_BAD_KEY'
  | 'SECAGG_BAD_SIGNATURE'
  | 'SECAGG_BAD_SHARE'
  | 'SECAGG_NOT_NEIGHBOUR'
  | 'SECAGG_BOTH_SHARES'
  | 'SECAGG_ALREADY_ANSWERED'
  | 'SECAGG_TOO_FEW_NEIGHBOURS'
  | 'SECAGG_THRESHOLD'
  /** a second statistics sum of one job over other sites, whose difference from the first would reveal a site */
  | 'SECAGG_STATISTICS_AGAIN'
  /** a party asked for a step of a round whose keys it no longer holds (it restarted since it advertised them) */
  | 'SECAGG_NO_KEYS'
  | 'SECAGG_PHASE';

export class SecAggError extends Error {
  constructor(
    readonly code: SecAggErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SecAggError';
  }
}
