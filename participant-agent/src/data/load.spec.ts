import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobSpecSchema } from '@fl/shared';
import { parseCsv } from './csv';
import { checkSource, describeSource, loadLocalData, readLocalData, sourceKind, sourceVersion } from './load';
import { rowsOf, toLocalTable } from './table';

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
      const first = await sourceVersion({ location: file });
      const then = statSync(file).mtime;
      writeFileSync(file, 'a\n2\n');
      // The same size: the modification time alone must tell.
      utimesSync(file, then, new Date(then.getTime() + 5000));
      expect(await sourceVersion({ location: file })).not.toBe(first);
      expect(await sourceVersion({ location: 'postgres://h/db', query: 'select 1' })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
