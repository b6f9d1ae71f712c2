import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobSpecSchema } from '@fl/shared';
import { loadLocalData } from './load';

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

  it('reads, maps and types a file', () => {
    // Prepare
    const file = write('mapped.csv', 'Alter,Wohnen,status\r\n30,Miete,good\r\nNA,Eigentum,bad\r\n');
    const mapping = { columns: { Alter: 'age', Wohnen: 'home' }, categories: { home: { Miete: 'rent', Eigentum: 'owner' } } };

    // Execute
    const { table, report } = loadLocalData(file, spec, mapping);

    // Assert
    expect(table.rows).toEqual([
      { line: 2, values: [30, 'rent', 'good'] },
      { line: 3, values: [null, 'owner', 'bad'] },
    ]);
    expect(report.ok).toBe(true);
  });

  it('works without a mapping', () => {
    const file = write('plain.csv', 'age,home,status\n30,rent,good\n');

    expect(loadLocalData(file, spec).table.rows).toHaveLength(1);
  });

  it('throws the formatted report when required columns are missing', () => {
    const file = write('short.csv', 'age,status\n30,good\n');

    expect(() => loadLocalData(file, spec)).toThrow(/^The data is missing required columns: home\nRows read: 1;/);
  });

  it('names the file when it cannot be read', () => {
    const file = join(dir, 'absent.csv');

    expect(() => loadLocalData(file, spec)).toThrow(`cannot read the data file ${file}`);
  });
});
