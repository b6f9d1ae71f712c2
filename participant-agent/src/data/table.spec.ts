import { JobSpecSchema, type JobSpec } from '@fl/shared';
import { parseCsv } from './csv';
import { MAX_PROBLEMS, TableBuilder, formatReport, isMissing, parseNumber, rowsOf, tableLayout, toLocalTable, type SchemaReport } from './table';

const spec = (model: JobSpec['model'] = 'logistic'): JobSpec =>
  JobSpecSchema.parse({
    model,
    features: [
      { name: 'age', type: 'numeric' },
      { name: 'home', type: 'categorical' },
    ],
    target: 'status',
  });

describe('isMissing', () => {
  it.each(['', '   ', 'NA', 'na', ' NaN ', 'null', 'NULL', '?'])('treats %j as missing', (text) => {
    expect(isMissing(text)).toBe(true);
  });

  it.each(['0', '-', 'none', 'nana'])('treats %j as a value', (text) => {
    expect(isMissing(text)).toBe(false);
  });
});

describe('parseNumber', () => {
  it.each([
    ['12', 12],
    [' -3.5 ', -3.5],
    ['+.5', 0.5],
    ['7.', 7],
    ['1e3', 1000],
    ['2.5E-1', 0.25],
  ])('reads %j as %d', (text, value) => {
    expect(parseNumber(text)).toBe(value);
  });

  it.each(['12abc', '1,5', '0x1A', '0b1', 'Infinity', '1e999', '--1', '1 000', '.', 'e5'])('rejects %j', (text) => {
    expect(parseNumber(text)).toBeUndefined();
  });
});

describe('toLocalTable', () => {
  it('types the job columns in spec order, then the target, ignoring other columns', () => {
    // Prepare
    const csv = parseCsv('status,extra,home,age\ngood,x, rent ,30\nbad,y,owner, 41.5\n');

    // Execute
    const { table, report } = toLocalTable(csv, spec());

    // Assert
    expect(table.columns.map((c) => [c.name, c.type])).toEqual([
      ['age', 'numeric'],
      ['home', 'categorical'],
      ['status', 'categorical'],
    ]);
    expect(rowsOf(table)).toEqual([
      [30, 'rent', 'good'],
      [41.5, 'owner', 'bad'],
    ]);
    expect(report).toEqual({ ok: true, missingColumns: [], problems: [], counts: { rows: 2, unparsable: 0, badRows: 0 } });
  });

  it('turns empty, NA, NaN, null and ? into null in any column', () => {
    const csv = parseCsv('age,home,status\nNA,,good\n ,NaN,null\n?,rent,?\n');

    const { table, report } = toLocalTable(csv, spec());

    expect(rowsOf(table)).toEqual([
      [null, null, 'good'],
      [null, null, null],
      [null, 'rent', null],
    ]);
    expect(report.counts.unparsable).toBe(0);
  });

  it('makes the target a number for a linear model', () => {
    const csv = parseCsv('age,home,status\n30,rent,2.5\n');

    const { table } = toLocalTable(csv, spec('linear'));

    expect(rowsOf(table)[0]).toEqual([30, 'rent', 2.5]);
  });

  it('keeps rows with unparsable numbers, as missing values, and reports where without the value', () => {
    // Prepare
    const csv = parseCsv('age,home,status\n12abc,rent,1\n30,owner,1,5\n1,5,rent,x\n40,rent,3\n');

    // Execute
    const { table, report } = toLocalTable(csv, spec('linear'));

    // Assert
    expect(rowsOf(table)).toEqual([
      [null, 'rent', 1],
      [40, 'rent', 3],
    ]);
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([
      { line: 2, column: 'age', reason: 'not a number' },
      { line: 3, column: '', reason: 'expected 3 fields, found 4' },
      { line: 4, column: '', reason: 'expected 3 fields, found 4' },
    ]);
    expect(report.counts).toEqual({ rows: 2, unparsable: 1, badRows: 2 });
    expect(JSON.stringify(report)).not.toContain('12abc');
  });

  it('reports a category spelled in bytes that are not UTF-8 (a Windows-1252 export), once per spelling, by line and column', () => {
    // Prepare: "Zürich" with the ü of Windows-1252 (0xFC), twice, and once in UTF-8
    const bytes = Buffer.concat([Buffer.from('age,home,status\n1,Z'), Buffer.from([0xfc]), Buffer.from('rich,a\n2,Z'), Buffer.from([0xfc]), Buffer.from('rich,b\n3,Zürich,a\n')]);

    // Execute
    const { report } = toLocalTable(parseCsv(bytes), spec());

    // Assert
    expect(report.counts).toEqual({ rows: 3, unparsable: 0, badRows: 0, notUtf8: 1 });
    expect(report.problems).toEqual([{ line: 2, column: 'home', reason: 'bytes that are not UTF-8: is the file in another encoding? Export it as UTF-8' }]);
    expect(formatReport(report)).toContain("Category spellings with bytes that are not UTF-8 (they match no other site's): 1");
  });

  it('reports an unparsable numeric target too', () => {
    const csv = parseCsv('age,home,status\n30,rent,lots\n');

    const { table, report } = toLocalTable(csv, spec('linear'));

    expect(rowsOf(table)[0][2]).toBeNull();
    expect(report.problems).toEqual([{ line: 2, column: 'status', reason: 'not a number' }]);
  });

  it('is not ok when required columns are missing, and names them', () => {
    const csv = parseCsv('age,status\n30,good\n');

    const { table, report } = toLocalTable(csv, spec());

    expect(report.ok).toBe(false);
    expect(report.missingColumns).toEqual(['home']);
    expect(table.n).toBe(0);
  });

  it('refuses a job column that appears twice in the header', () => {
    const csv = parseCsv('age,home,status,age\n1,rent,good,2\n');

    expect(() => toLocalTable(csv, spec())).toThrow('"age" appears more than once');
  });

  it('keeps at most MAX_PROBLEMS problems but counts them all', () => {
    const lines = Array.from({ length: MAX_PROBLEMS + 5 }, () => 'x,rent,good');
    const csv = parseCsv(['age,home,status', ...lines].join('\n'));

    const { report } = toLocalTable(csv, spec());

    expect(report.problems).toHaveLength(MAX_PROBLEMS);
    expect(report.problems[0].line).toBe(2);
    expect(report.counts.unparsable).toBe(MAX_PROBLEMS + 5);
  });
});

describe('formatReport', () => {
  const report: SchemaReport = {
    ok: false,
    missingColumns: ['home', 'status'],
    problems: [
      { line: 3, column: '', reason: 'expected 3 fields, found 2' },
      { line: 4, column: 'age', reason: 'not a number' },
      { line: 9, column: 'age', reason: 'not a number' },
    ],
    counts: { rows: 10, unparsable: 2, badRows: 1 },
  };

  it('says what is missing, the counts, and the problems with their lines', () => {
    const text = formatReport(report);

    expect(text.split('\n')).toEqual([
      'The data is missing required columns: home, status',
      'Rows read: 10; rows skipped for a wrong number of fields: 1; values that are not numbers (treated as missing): 2',
      'Problems (3 of 3):',
      '  line 3: expected 3 fields, found 2',
      '  line 4, column age: not a number',
      '  line 9, column age: not a number',
    ]);
  });

  it('shows only the first maxLines problems and how many more there are', () => {
    const lines = formatReport({ ...report, ok: true, missingColumns: [] }, 1).split('\n');

    expect(lines).toEqual([
      expect.stringMatching(/^Rows read: 10;/),
      'Problems (1 of 3):',
      '  line 3: expected 3 fields, found 2',
      '  ... and 2 more',
    ]);
  });
});

describe('TableBuilder on a typed source with conversions', () => {
  const job = JobSpecSchema.parse({
    model: 'logistic',
    features: [
      { name: 'opened', type: 'numeric', format: 'date' },
      { name: 'weight', type: 'numeric', unit: 'kg' },
    ],
    target: 'status',
  });

  it('takes a date value as the day it falls on in UTC, converts numbers, and reports rows it cannot convert by row', () => {
    // Prepare
    const builder = new TableBuilder(['opened', 'weight', 'status'], job, { conversions: { weight: { from: 't', to: 'kg' } } }, 'row');

    // Execute: a Parquet or PostgreSQL date, the default format as text, a number where a date belongs, a value out of range once converted
    builder.row([new Date(Date.UTC(2026, 11, 31, 23, 59)), 1, 'good']);
    builder.row(['1970-01-02', null, 'bad']);
    builder.row([20261231, 2, 'good']);
    builder.row([null, Number.MAX_VALUE, 'bad']);
    builder.addRows(2);
    builder.columnValues(0, 4, [new Date(Date.UTC(1969, 11, 31)), '2000-02-30']);
    builder.columnValues(1, 4, [3, NaN]);
    const { table, report } = builder.finish();

    // Assert
    expect(rowsOf(table).map((r) => r.slice(0, 1))).toEqual([[20_818], [1], [null], [null], [-1], [null]]);
    expect(rowsOf(table).map((r) => r[1])).toEqual([1000, null, 2000, null, 3000, null]);
    expect(report.unit).toBe('row');
    expect(report.conversions).toEqual([
      { column: 'opened', conversion: 'date YYYY-MM-DD -> days since 1970-01-01', converted: 3, unconvertible: 2, firstLine: 3 },
      { column: 'weight', conversion: 't -> kg (x 1000)', converted: 3, unconvertible: 1, firstLine: 4 },
    ]);
    expect(report.problems).toEqual([
      { line: 3, column: 'opened', reason: 'not a date in the format YYYY-MM-DD' },
      { line: 4, column: 'weight', reason: 'out of range once converted' },
      { line: 6, column: 'opened', reason: 'not a date in the format YYYY-MM-DD' },
    ]);
    expect(formatReport(report)).toContain('row 4, column weight: out of range once converted');
  });

  it('reports an invalid date from a typed source as a problem, in a date column or any other', () => {
    const builder = new TableBuilder(['opened', 'weight', 'status'], job, {}, 'row');

    builder.row([new Date(NaN), new Date(NaN), 'good']);
    const { table, report } = builder.finish();

    expect(rowsOf(table)).toEqual([[null, null, 'good']]);
    expect(report.problems).toEqual([
      { line: 1, column: 'opened', reason: 'not a date in the format YYYY-MM-DD' },
      { line: 1, column: 'weight', reason: 'not a number' },
    ]);
  });
});

describe('tableLayout', () => {
  const base = JobSpecSchema.parse({
    model: 'logistic',
    features: [
      { name: 'age', type: 'numeric' },
      { name: 'home', type: 'categorical' },
    ],
    target: 'status',
  });
  const layout = (changes: Partial<JobSpec>) => JSON.stringify(tableLayout({ ...base, ...changes }));

  it('is the same for jobs that differ only in what is not read: model settings, bounds, vocabularies', () => {
    // Prepare
    const features: JobSpec['features'] = [
      { name: 'age', type: 'numeric', bounds: [0, 120] },
      { name: 'home', type: 'categorical', categories: ['rent', 'owner'] },
    ];

    // Execute
    const layouts = [layout({}), layout({ model: 'svm', learningRate: 1, rounds: 3, seed: 7 }), layout({ features, classes: ['bad', 'good'] })];

    // Assert
    expect(new Set(layouts).size).toBe(1);
  });

  it('differs when a column is read otherwise: its type, unit or date format, the columns, or a target read as a number', () => {
    // Execute
    const layouts = [
      layout({}),
      layout({ features: [{ name: 'age', type: 'categorical' }, base.features[1]] }),
      layout({ features: [{ name: 'age', type: 'numeric', unit: 'years' }, base.features[1]] }),
      layout({ features: [{ name: 'age', type: 'numeric', format: 'date' }, base.features[1]] }),
      layout({ features: [base.features[0]] }),
      layout({ features: [base.features[1], base.features[0]] }),
      layout({ target: 'home2' }),
      layout({ model: 'linear' }),
    ];

    // Assert
    expect(new Set(layouts).size).toBe(layouts.length);
  });
});
