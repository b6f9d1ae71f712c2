/** The participant's data layer: local CSV in, statistics and training matrices out, with no network. */
export { parseCsv, type CsvRow, type CsvTable, type RowProblem } from './csv';
export { MappingSchema, applyMapping, loadMapping, parseMapping, type Mapping } from './mapping';
export {
  MAX_PROBLEMS,
  formatReport,
  isMissing,
  parseNumber,
  toLocalTable,
  type LocalRow,
  type LocalTable,
  type SchemaProblem,
  type SchemaReport,
  type Value,
} from './table';
export { computeStatistics } from './statistics';
export {
  categoricalColumn,
  dropMissingTarget,
  encodeFeatures,
  encodeTarget,
  featureNames,
  numericColumn,
  prepare,
  type PrepareReport,
  type PreparedData,
} from './preprocess';
export { loadLocalData } from './load';
export { splitHoldout } from './holdout';
export { DataError } from './errors';
