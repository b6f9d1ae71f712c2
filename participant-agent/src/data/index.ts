/** The participant's data layer: local CSV, Parquet or a PostgreSQL query in, statistics and training matrices out, with no network but the database's. */
export { CsvTokenizer, fieldText, headerOf, parseCsv, type CsvRecord, type CsvRow, type CsvTable, type RowProblem } from './csv';
export { MappingSchema, applyMapping, loadMapping, mapHeader, parseMapping, type Mapping, type MappedHeader } from './mapping';
export { ConversionSchema, KNOWN_UNITS, dateParser, daysFromCivil, resolveConversions, type Conversion, type ResolvedConversion } from './convert';
export {
  MAX_PROBLEMS,
  MISSING_CODE,
  TableBuilder,
  firstRows,
  formatReport,
  isMissing,
  parseNumber,
  rowsOf,
  tableLayout,
  tableOf,
  toLocalTable,
  unconvertibleValues,
  valueAt,
  type Column,
  type ConversionReport,
  type LocalTable,
  type SchemaProblem,
  type SchemaReport,
  type Value,
} from './table';
export { computeStatistics, secureRoundInput, secureStatisticsInput } from './statistics';
export { encodeFeatures, encodeTarget, featureNames, prepare, type PrepareReport, type PreparedData } from './preprocess';
export { checkSource, describeSource, loadLocalData, readLocalData, sourceKind, sourceVersion, type DataSource, type ReadOptions, type SourceKind } from './load';
export { holdoutPositions, prepareSplit, splitHoldout } from './holdout';
export { DataError } from './errors';
