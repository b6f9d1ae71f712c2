import { parseCsv } from './csv';

describe('parseCsv', () => {
  it('reads the header and rows with their line numbers', () => {
    // Prepare
    const text = 'age,home\n30,rent\n41,owner\n';

    // Execute
    const csv = parseCsv(text);

    // Assert
    expect(csv.header).toEqual(['age', 'home']);
    expect(csv.rows).toEqual([
      { line: 2, fields: ['30', 'rent'] },
      { line: 3, fields: ['41', 'owner'] },
    ]);
    expect(csv.problems).toEqual([]);
  });

  it('keeps commas, escaped quotes and newlines inside quoted fields, numbering by the start line', () => {
    const text = 'id,note\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,after\n';

    const csv = parseCsv(text);

    expect(csv.rows).toEqual([
      { line: 2, fields: ['1', 'a, b'] },
      { line: 3, fields: ['2', 'say "hi"'] },
      { line: 4, fields: ['3', 'two\nlines'] },
      { line: 6, fields: ['4', 'after'] },
    ]);
  });

  it('handles CRLF line endings, also inside quoted fields, and a byte order mark', () => {
    const text = '\uFEFFid,note\r\n1,x\r\n2,"p\r\nq"\r\n3,y';

    const csv = parseCsv(text);

    expect(csv.header).toEqual(['id', 'note']);
    expect(csv.rows).toEqual([
      { line: 2, fields: ['1', 'x'] },
      { line: 3, fields: ['2', 'p\r\nq'] },
      { line: 5, fields: ['3', 'y'] },
    ]);
  });

  it('splits files with mixed line endings', () => {
    const csv = parseCsv('a,b\r\n1,2\n3,4\r5,6');

    expect(csv.rows.map((r) => [r.line, ...r.fields])).toEqual([
      [2, '1', '2'],
      [3, '3', '4'],
      [4, '5', '6'],
    ]);
  });

  it('skips empty and blank lines but counts them in line numbers', () => {
    const text = '\na,b\n\n1,2\n   \n\r\n3,4\n\n';

    const csv = parseCsv(text);

    expect(csv.header).toEqual(['a', 'b']);
    expect(csv.rows).toEqual([
      { line: 4, fields: ['1', '2'] },
      { line: 7, fields: ['3', '4'] },
    ]);
    expect(csv.problems).toEqual([]);
  });

  it('reports rows with the wrong number of fields by line and leaves them out', () => {
    const text = 'a,b,c\n1,2,3\n4,5\n"multi\nline",6,7,8\n9,10,11\n';

    const csv = parseCsv(text);

    expect(csv.rows.map((r) => r.line)).toEqual([2, 6]);
    expect(csv.problems).toEqual([
      { line: 3, reason: 'expected 3 fields, found 2' },
      { line: 4, reason: 'expected 3 fields, found 4' },
    ]);
  });

  it('never puts field contents in a problem', () => {
    const csv = parseCsv('name,income\nsecret-person,1234567\nonly-one-field\n');

    expect(JSON.stringify(csv.problems)).not.toContain('only-one-field');
  });

  it('trims spaces around column names but keeps values as written', () => {
    const csv = parseCsv(' age , home\n 30 , rent \n');

    expect(csv.header).toEqual(['age', 'home']);
    expect(csv.rows[0].fields).toEqual([' 30 ', ' rent ']);
  });

  it('keeps a stray quote inside an unquoted value literally', () => {
    const csv = parseCsv('size,n\n5\'11",1\n');

    expect(csv.rows[0].fields).toEqual(['5\'11"', '1']);
  });

  it('throws with the line when a quoted field is never closed', () => {
    expect(() => parseCsv('a,b\n1,2\n3,"open\n4,5\n')).toThrow(/never closed.*line 3/);
  });

  it('throws with the line when a closing quote is followed by more text', () => {
    expect(() => parseCsv('a,b\n1,2\n"3"x,4\n')).toThrow(/line 3 \(a closing quote is followed by more text\)/);
  });

  it('ends with an empty field after a trailing comma', () => {
    expect(parseCsv('a,b\n1,').rows).toEqual([{ line: 2, fields: ['1', ''] }]);
  });

  it.each([[''], ['\n\n'], ['\uFEFF'], ['  \r\n']])('throws a clear error for a file without a header (%j)', (text) => {
    expect(() => parseCsv(text)).toThrow(/empty.*header/);
  });

  it('accepts a header without rows', () => {
    expect(parseCsv('a,b\n')).toEqual({ header: ['a', 'b'], rows: [], problems: [] });
  });
});
