import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CsvTable } from './csv';
import { applyMapping, loadMapping, parseMapping } from './mapping';

const table = (header: string[], ...rows: string[][]): CsvTable => ({
  header,
  rows: rows.map((fields, i) => ({ line: i + 2, fields })),
  problems: [],
});

describe('parseMapping', () => {
  it('accepts renames and category spellings', () => {
    const json = { columns: { Alter: 'age' }, categories: { home: { Miete: 'rent' } } };

    expect(parseMapping(json)).toEqual(json);
  });

  it('accepts conversions: scale and offset, a date format, a unit or a currency at a rate', () => {
    const json = {
      columns: { Einkommen: 'income' },
      conversions: { income: { from: 'USD', to: 'EUR', rate: 0.92 }, weight: { from: 'lb', to: 'kg' }, opened: { date: 'DD/MM/YYYY' }, score: { scale: 10, offset: -1 } },
    };

    expect(parseMapping(json)).toEqual(json);
  });

  it.each([
    [{ income: { from: 'USD', to: 'EUR' } }, 'conversions.income: converting USD to EUR needs the rate the consortium agreed on'],
    [{ weight: { from: 'lb', to: 'EUR', rate: 2 } }, 'conversions.weight: lb is a physical unit and EUR a currency'],
    [{ opened: { date: 'DD/MM' } }, 'conversions.opened: the date format "DD/MM" needs exactly one year'],
    [{ income: { rate: 0.92 } }, 'conversions.income: a unit conversion needs both "from" and "to"'],
    [{ income: { scale: 2, date: 'DD/MM/YYYY' } }, 'conversions.income: a conversion is one of { "scale", "offset" }, { "date" } or { "from", "to", "rate" }'],
    [{ income: { from: 'USD', to: 'EUR', rate: -1 } }, 'conversions.income.rate: Too small'],
    [{ income: { factor: 2 } }, 'conversions.income: Unrecognized key: "factor"'],
  ])('refuses the conversions %j, naming the column', (conversions, message) => {
    expect(() => parseMapping({ conversions })).toThrow(`invalid mapping: ${message}`);
  });

  it('accepts an empty mapping', () => {
    expect(parseMapping({})).toEqual({});
  });

  it('lists every issue with its path', () => {
    const json = { columns: { Alter: 7 }, categories: { home: 'rent' }, colums: {} };

    expect(() => parseMapping(json)).toThrow(/invalid mapping: .*columns\.Alter.*categories\.home.*colums/);
  });

  it('rejects an empty rename target', () => {
    expect(() => parseMapping({ columns: { a: '' } })).toThrow(/columns\.a/);
  });

  it('refuses a __proto__ entry instead of silently dropping it', () => {
    const json: unknown = JSON.parse('{"columns": {"__proto__": "age"}}');

    expect(() => parseMapping(json)).toThrow(/columns: "__proto__" cannot be used/);
  });
});

describe('loadMapping', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'fl-mapping-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a JSON file, with or without a byte order mark', () => {
    const file = join(dir, 'ok.json');
    writeFileSync(file, '\uFEFF{"columns": {"Alter": "age"}}');

    expect(loadMapping(file)).toEqual({ columns: { Alter: 'age' } });
  });

  it('names the file when it cannot be read', () => {
    const file = join(dir, 'absent.json');

    expect(() => loadMapping(file)).toThrow(`cannot read the mapping file ${file}`);
  });

  it('says when the file is not JSON', () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{ columns: ');

    expect(() => loadMapping(file)).toThrow(`the mapping file ${file} is not valid JSON`);
  });

  it('names the file when the JSON does not fit the schema', () => {
    const file = join(dir, 'wrong.json');
    writeFileSync(file, '{"columns": []}');

    expect(() => loadMapping(file)).toThrow(new RegExp(`${file}: invalid mapping: columns`));
  });
});

describe('applyMapping', () => {
  it('renames columns and respells categories of the renamed column', () => {
    // Prepare
    const csv = table(['Alter', 'Wohnen', 'other'], ['30', 'Miete', 'Miete'], ['41', ' Eigentum ', 'x'], ['50', 'parents', 'y']);
    const mapping = parseMapping({
      columns: { Alter: 'age', Wohnen: 'home' },
      categories: { home: { Miete: 'rent', Eigentum: 'owner' } },
    });

    // Execute
    const mapped = applyMapping(csv, mapping);

    // Assert
    expect(mapped.header).toEqual(['age', 'home', 'other']);
    expect(mapped.rows).toEqual([
      { line: 2, fields: ['30', 'rent', 'Miete'] },
      { line: 3, fields: ['41', 'owner', 'x'] },
      { line: 4, fields: ['50', 'parents', 'y'] },
    ]);
  });

  it('leaves the input table unchanged', () => {
    const csv = table(['home'], ['Miete']);

    applyMapping(csv, { columns: { home: 'house' }, categories: { house: { Miete: 'rent' } } });

    expect(csv).toEqual(table(['home'], ['Miete']));
  });

  it('keeps the row problems', () => {
    const csv = { ...table(['a']), problems: [{ line: 5, reason: 'expected 1 fields, found 2' }] };

    expect(applyMapping(csv, { columns: { a: 'b' } }).problems).toEqual(csv.problems);
  });

  it('ignores renames of columns the file does not have', () => {
    const csv = table(['age'], ['30']);

    expect(applyMapping(csv, { columns: { Alter: 'age2' }, categories: { nothere: { a: 'b' } } })).toEqual(csv);
  });

  it('does not match inherited names as spellings', () => {
    const csv = table(['home'], ['constructor'], ['toString']);

    const mapped = applyMapping(csv, { categories: { home: { rent: 'Miete' } } });

    expect(mapped.rows.map((r) => r.fields[0])).toEqual(['constructor', 'toString']);
  });

  it('allows swapping two column names', () => {
    const csv = table(['a', 'b'], ['1', '2']);

    expect(applyMapping(csv, { columns: { a: 'b', b: 'a' } }).header).toEqual(['b', 'a']);
  });

  it('refuses two columns renamed to the same name', () => {
    const csv = table(['Alter', 'age_years'], ['30', '30']);

    expect(() => applyMapping(csv, { columns: { Alter: 'age', age_years: 'age' } })).toThrow(
      'the columns "Alter" and "age_years" are both renamed to "age"',
    );
  });

  it('refuses a rename onto a column that stays', () => {
    const csv = table(['age', 'Alter'], ['30', '30']);

    expect(() => applyMapping(csv, { columns: { Alter: 'age' } })).toThrow(
      'renaming "Alter" to "age" clashes with the existing column "age"',
    );
  });
});
