import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobSpecSchema } from '@fl/shared';
import { parseCsv } from './csv';
import { DataError } from './errors';
import { checkSource, describeSource, loadLocalData, readLocalData, sourceKind, sourceVersion } from './load';
import { formatReport, rowsOf, toLocalTable } from './table';

const spec = JobSpecSchema.parse({
  model: 'logistic',
  features: [
    { name: 'age', type: 'numeric' },
    { name: 'home', type: 'categorical' },
  ],
  target: 'status',
});

describe('loadLocalData', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'fl-load-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads, maps and types a file', async () => {
    // Prepare
    const file = write('mapped.csv', 'Alter,Wohnen,status\r\n30,Miete,good\r\nNA,Eigentum,bad\r\n');
    const mapping = { columns: { Alter: 'age', Wohnen: 'home' }, categories: { home: { Miete: 'rent', Eigentum: 'owner' } } };

    // Execute
    const { table, report } = await loadLocalData(file, spec, mapping);

    // Assert
    expect(rowsOf(table)).toEqual([
      [30, 'rent', 'good'],
      [null, 'owner', 'bad'],
    ]);
    expect(report.ok).toBe(true);
  });

  it('works without a mapping', async () => {
    const file = write('plain.csv', 'age,home,status\n30,rent,good\n');

    expect((await loadLocalData(file, spec)).table.n).toBe(1);
  });

  it('throws the formatted report when required columns are missing', async () => {
    const file = write('short.csv', 'age,status\n30,good\n');

    await expect(loadLocalData(file, spec)).rejects.toThrow(/^The data is missing required columns: home\nRows read: 1;/);
  });

  it('names the file when it cannot be read', async () => {
    const file = join(dir, 'absent.csv');

    await expect(loadLocalData(file, spec)).rejects.toThrow(`cannot read the data file ${file}`);
  });

  it('says an empty file has no header', async () => {
    await expect(loadLocalData(write('empty.csv', '\n\n'), spec)).rejects.toThrow(/empty.*header/);
  });

  it('reads the same table and report whatever the block size, with numbers read from bytes as from text', async () => {
    // Prepare: quotes, CRLF inside quotes, a BOM, blank lines, bad rows and every form of number
    const numbers = ['12', ' -3.5 ', '+.5', '7.', '1e3', '2.5E-1', '-0', '0.1', '123456789012345678', '1.7976931348623157e308', '4.9e-324', '1e999', '12abc', '.', 'e5', '"42"', '00012.50', '9007199254740993', '3.14159265358979323846', 'NA', ''];
    const lines = ['\uFEFFage,home,status,note'];
    numbers.forEach((n, i) => lines.push(`${n},${i % 2 ? 'rent' : ' owner '},${i % 3 ? 'good' : 'bad'},"x ""${i}""\r\ny"`));
    lines.push('', '1,2', '   ', '5,rent,good,"a,b"');
    const text = lines.join('\r\n') + '\n';
    const file = write('tricky.csv', text);
    const expected = toLocalTable(parseCsv(text), spec);

    // Execute
    const results = await Promise.all([1, 2, 3, 7, 64, 4096].map((blockBytes) => readLocalData(file, spec, undefined, { blockBytes })));

    // Assert
    expect(expected.report.counts).toEqual({ rows: numbers.length + 1, unparsable: 4, badRows: 1 });
    for (const { table, report } of results) {
      expect(rowsOf(table)).toEqual(rowsOf(expected.table));
      expect(report).toEqual(expected.report);
    }
    expect(Object.is(rowsOf(results[0].table)[6][0], -0)).toBe(true);
  });
});

describe('sources', () => {
  it('tells a database from a file by its URL, and a Parquet file by its extension', () => {
    expect(sourceKind('postgres://u@h/db')).toBe('postgres');
    expect(sourceKind('postgresql://h/db')).toBe('postgres');
    expect(sourceKind('data/x.PARQUET')).toBe('parquet');
    expect(sourceKind('data/x.csv')).toBe('csv');
  });

  it('needs a query for a database, and only there', () => {
    expect(() => checkSource({ location: 'postgres://h/db' })).toThrow('needs --query');
    expect(() => checkSource({ location: 'x.csv', query: 'select 1' })).toThrow('only to a postgres:// data source');
  });

  it('never shows a database password', () => {
    expect(describeSource({ location: 'postgres://site:s3cret@db.local:5432/loans', query: 'select 1' })).toBe('postgres://site:***@db.local:5432/loans');
  });

  it('gives a file a new version when it is rewritten', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fl-version-'));
    try {
      const file = join(dir, 'a.csv');
      writeFileSync(file, 'a\n1\n');
      const first = sourceVersion({ location: file });
      const then = statSync(file).mtime;
      writeFileSync(file, 'a\n2\n');
      // The same size: the modification time alone must tell.
      utimesSync(file, then, new Date(then.getTime() + 5000));
      expect(sourceVersion({ location: file })).not.toBe(first);
      expect(sourceVersion({ location: 'postgres://h/db', query: 'select 1' })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('conversions while reading', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'fl-convert-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const job = JobSpecSchema.parse({
    model: 'logistic',
    features: [
      { name: 'income', type: 'numeric', unit: 'EUR' },
      { name: 'weight', type: 'numeric', unit: 'kg' },
      { name: 'opened', type: 'numeric', format: 'date' },
      { name: 'score', type: 'numeric' },
    ],
    target: 'status',
  });
  const mapping = {
    columns: { income_usd: 'income', weight_lb: 'weight' },
    conversions: { income: { from: 'USD', to: 'EUR', rate: 0.92 }, weight: { from: 'lb', to: 'kg' }, opened: { date: 'DD/MM/YYYY' }, score: { scale: 10, offset: 1 } },
  };
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('converts each column as it is read, and reports what, how many and where it could not, by line and column', async () => {
    // Prepare: line 3 has a date that does not exist, line 4 a date in another format, line 5 missing values
    const text = [
      'income_usd,weight_lb,opened,score,status',
      '100,150,31/12/2026,0.5,good',
      '"200",2.5e2,31/02/2026,1,bad',
      '50,abc,2026-12-31,2,good',
      'NA,,,,bad',
    ].join('\n');
    const file = write('converted.csv', text);

    // Execute
    const { table, report } = await readLocalData(file, job, mapping);

    // Assert
    const rows = rowsOf(table);
    expect(rows.map((r) => r.slice(2))).toEqual([
      [20_818, 6, 'good'],
      [null, 11, 'bad'],
      [null, 21, 'good'],
      [null, null, 'bad'],
    ]);
    expect(rows[0][0]).toBeCloseTo(92, 12);
    expect(rows[1][0]).toBeCloseTo(184, 12);
    expect(rows[0][1]).toBeCloseTo(68.0388555, 9);
    expect(rows[1][1]).toBeCloseTo(113.3980925, 9);
    expect(report.conversions).toEqual([
      { column: 'income', conversion: 'USD -> EUR at 0.92', converted: 3, unconvertible: 0 },
      { column: 'weight', conversion: 'lb -> kg (x 0.453592)', converted: 2, unconvertible: 0 },
      { column: 'opened', conversion: 'date DD/MM/YYYY -> days since 1970-01-01', converted: 1, unconvertible: 2, firstLine: 3 },
      { column: 'score', conversion: 'x 10 + 1', converted: 3, unconvertible: 0 },
    ]);
    expect(report.counts).toEqual({ rows: 4, unparsable: 1, badRows: 0 });
    expect(report.problems).toEqual([
      { line: 3, column: 'opened', reason: 'not a date in the format DD/MM/YYYY' },
      { line: 4, column: 'weight', reason: 'not a number' },
      { line: 4, column: 'opened', reason: 'not a date in the format DD/MM/YYYY' },
    ]);
    const shown = formatReport(report);
    expect(shown).toContain('Converted income: USD -> EUR at 0.92: 3 values');
    expect(shown).toContain('Converted opened: date DD/MM/YYYY -> days since 1970-01-01: 1 values; 2 values that cannot be converted');
    expect(shown).toContain('line 3, column opened: not a date in the format DD/MM/YYYY');
    expect(shown).not.toMatch(/31\/02|2026-12-31|abc/);
  });

  it('refuses data with unconvertible values as DATA_UNCONVERTIBLE, with counts and the first line only', async () => {
    const file = write('unconvertible.csv', 'income_usd,weight_lb,opened,score,status\n1,1,01/01/2026,1,good\n1,1,2026-01-02,1,bad\n1,1,13/13/2026,1,bad\n');

    const error = await loadLocalData(file, job, mapping).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(DataError);
    expect(error).toMatchObject({ code: 'DATA_UNCONVERTIBLE', counts: { values: 2, columns: 1, firstLine: 3 } });
    expect((error as Error).message).toContain('line 3, column opened: not a date in the format DD/MM/YYYY');
    expect((error as Error).message).not.toMatch(/2026-01-02|13\/13/);
  });

  it('refuses a mapping that converts to another unit than the job declares, before reading a row', async () => {
    const file = write('units.csv', 'income_usd,weight_lb,opened,score,status\n1,1,01/01/2026,1,good\n');
    const wrong = { ...mapping, conversions: { ...mapping.conversions, weight: { from: 'lb', to: 'g' } } };

    await expect(readLocalData(file, job, wrong)).rejects.toMatchObject({
      code: 'DATA_UNCONVERTIBLE',
      message: 'mapping: conversions.weight: converts to g, but the job declares weight in kg',
    });
  });

  it('reads dates in YYYY-MM-DD where the mapping gives no format', async () => {
    const file = write('iso.csv', 'income,weight,opened,score,status\n1,2,1970-01-02,3,good\n');

    const { table, report } = await loadLocalData(file, job);

    expect(rowsOf(table)).toEqual([[1, 2, 1, 3, 'good']]);
    expect(report.conversions).toEqual([{ column: 'opened', conversion: 'date YYYY-MM-DD -> days since 1970-01-01', converted: 1, unconvertible: 0 }]);
  });

  it('converts the same whatever the block size, numbers read from bytes as from text', async () => {
    const lines = ['income_usd,weight_lb,opened,score,status'];
    for (let i = 0; i < 200; i++) {
      const money = i % 7 === 0 ? `"${i * 10.5}"` : String(i * 10.5);
      lines.push(`${money},${i % 11 === 0 ? 'NA' : i / 3},${String((i % 28) + 1).padStart(2, '0')}/0${(i % 9) + 1}/20${10 + (i % 15)},${i % 13 === 0 ? '1e2' : i},${i % 2 ? 'good' : 'bad'}`);
    }
    lines[50] = lines[50].replace(/,\d\d\/0/, ',xx/0');
    const text = lines.join('\r\n') + '\r\n';
    const file = write('blocks.csv', text);
    const expected = toLocalTable(parseCsv(text), job, mapping);

    const results = await Promise.all([1, 5, 64, 4096].map((blockBytes) => readLocalData(file, job, mapping, { blockBytes })));

    expect(expected.report.conversions?.map((c) => [c.converted, c.unconvertible])).toEqual([
      [200, 0],
      [181, 0],
      [199, 1],
      [200, 0],
    ]);
    for (const { table, report } of results) {
      expect(rowsOf(table)).toEqual(rowsOf(expected.table));
      expect(report).toEqual(expected.report);
    }
  });
});
