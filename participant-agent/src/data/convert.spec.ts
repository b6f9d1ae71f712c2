import { JobSpecSchema, type JobSpecInput } from '@fl/shared';
import { conversionProblem, dateParser, daysFromCivil, resolveConversions, type Conversion, type ResolvedConversion } from './convert';
import { DataError } from './errors';

const job = (features: JobSpecInput['features'], extra: Partial<JobSpecInput> = {}) =>
  JobSpecSchema.parse({ model: 'logistic', target: 'status', features, ...extra });

/** Applies a resolved conversion as the table does. */
const apply = (conversion: ResolvedConversion | undefined, text: string): number | undefined => {
  if (!conversion) throw new Error('no conversion');
  return conversion.kind === 'date' ? conversion.parse(text) : Number(text) * conversion.scale + conversion.offset;
};

describe('daysFromCivil', () => {
  it('counts days from 1970-01-01, before it too', () => {
    expect(daysFromCivil(1970, 1, 1)).toBe(0);
    expect(daysFromCivil(1969, 12, 31)).toBe(-1);
    expect(daysFromCivil(2000, 3, 1)).toBe(11_017);
    expect(daysFromCivil(2026, 12, 31)).toBe(20_818);
  });

  it('agrees with Date.UTC on every day of 1899 to 2101', () => {
    for (let t = Date.UTC(1899, 0, 1); t <= Date.UTC(2101, 11, 31); t += 86_400_000) {
      const d = new Date(t);
      expect(daysFromCivil(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate())).toBe(t / 86_400_000);
    }
  });

  it.each([
    [2025, 2, 29],
    [1900, 2, 29],
    [2026, 4, 31],
    [2026, 13, 1],
    [2026, 0, 10],
    [2026, 1, 0],
  ])('has no %i-%i-%i', (y, m, d) => {
    expect(daysFromCivil(y, m, d)).toBeUndefined();
  });

  it('knows leap days', () => {
    expect(daysFromCivil(2024, 2, 29)).toBe(daysFromCivil(2024, 3, 1)! - 1);
    expect(daysFromCivil(2000, 2, 29)).toBe(daysFromCivil(2000, 3, 1)! - 1);
  });
});

describe('dateParser', () => {
  const day = daysFromCivil(2026, 4, 3);

  it.each([
    ['DD/MM/YYYY', '03/04/2026'],
    ['MM/DD/YYYY', '04/03/2026'],
    ['YYYY-MM-DD', '2026-04-03'],
    ['D.M.YYYY', '3.4.2026'],
    ['D.M.YYYY', '03.04.2026'],
    ['YYYYMMDD', '20260403'],
    ['DD/MM/YYYY', ' 03/04/2026 '],
  ])('reads %s: %j is 3 April 2026', (format, text) => {
    expect(dateParser(format)(text)).toBe(day);
  });

  it.each([
    ['DD/MM/YYYY', '3/4/2026', 'DD needs two digits'],
    ['DD/MM/YYYY', '2026-04-03', 'another format'],
    ['DD/MM/YYYY', '31/02/2026', 'no such day'],
    ['MM/DD/YYYY', '13/01/2026', 'month 13: the day and month swapped'],
    ['DD/MM/YYYY', '03/04/2026 10:00', 'trailing text'],
    ['YYYY-MM-DD', '2026-04-03x', 'trailing text'],
    ['D.M.YYYY', '3-4-2026', 'a separator is written as it is'],
  ])('refuses %s %j (%s)', (format, text) => {
    expect(dateParser(format)(text)).toBeUndefined();
  });

  it.each(['DD/MM', 'YYYY-MM-DD-DD', 'YY-MM-DD', 'hello'])('refuses the format %j', (format) => {
    expect(() => dateParser(format)).toThrow(/needs exactly one year \(YYYY\), one month \(MM or M\) and one day \(DD or D\)/);
  });
});

describe('conversionProblem', () => {
  it.each<Conversion>([{ scale: 1000 }, { offset: -5 }, { scale: 2, offset: 1 }, { date: 'DD/MM/YYYY' }, { from: 'lb', to: 'kg' }, { from: 'USD', to: 'EUR', rate: 0.92 }, { from: 'degF', to: 'degC' }])(
    'accepts %j',
    (conversion) => {
      expect(conversionProblem(conversion)).toBeUndefined();
    },
  );

  it.each<[Conversion, RegExp]>([
    [{}, /a conversion is one of/],
    [{ scale: 2, from: 'lb', to: 'kg' }, /a conversion is one of/],
    [{ from: 'lb' }, /needs both "from" and "to"/],
    [{ scale: 0 }, /a scale of 0/],
    [{ date: 'MM/YYYY' }, /needs exactly one year/],
    [{ from: 'lb', to: 'm' }, /lb \(mass\) cannot be converted to m \(length\)/],
    [{ from: 'lb', to: 'kg', rate: 0.5 }, /fixed factor; a rate applies to currencies only/],
    [{ from: 'USD', to: 'EUR' }, /needs the rate the consortium agreed on/],
    [{ from: 'lb', to: 'EUR', rate: 2 }, /lb is a physical unit and EUR a currency/],
    [{ from: 'stone', to: 'kg' }, /unknown unit "stone"/],
    [{ from: 'usd', to: 'EUR', rate: 0.9 }, /unknown unit "usd"/],
    [{ from: 'year', to: 'd' }, /year \(calendar time\) cannot be converted to d \(time\)/],
  ])('refuses %j', (conversion, why) => {
    expect(conversionProblem(conversion)).toMatch(why);
  });
});

describe('resolveConversions', () => {
  const spec = job([
    { name: 'income', type: 'numeric', unit: 'EUR' },
    { name: 'weight', type: 'numeric', unit: 'kg' },
    { name: 'temperature', type: 'numeric', unit: 'degC' },
    { name: 'term', type: 'numeric', unit: 'month' },
    { name: 'opened', type: 'numeric', format: 'date' },
    { name: 'score', type: 'numeric' },
    { name: 'home', type: 'categorical' },
  ]);

  it('converts currencies at the declared rate, and physical units by their exact factor', () => {
    const resolved = resolveConversions(spec, {
      income: { from: 'USD', to: 'EUR', rate: 0.92 },
      weight: { from: 'lb', to: 'kg' },
      temperature: { from: 'degF', to: 'degC' },
      term: { from: 'year', to: 'month' },
    });
    expect(apply(resolved.get('income'), '100')).toBeCloseTo(92, 12);
    expect(apply(resolved.get('weight'), '1')).toBe(0.45359237);
    expect(apply(resolved.get('weight'), '150')).toBeCloseTo(68.0388555, 9);
    expect(apply(resolved.get('temperature'), '212')).toBeCloseTo(100, 12);
    expect(apply(resolved.get('temperature'), '32')).toBeCloseTo(0, 12);
    expect(apply(resolved.get('term'), '2')).toBe(24);
    expect(resolved.get('income')!.description).toBe('USD -> EUR at 0.92');
    expect(resolved.get('weight')!.description).toBe('lb -> kg (x 0.453592)');
    expect(resolved.get('temperature')!.description).toBe('degF -> degC (x 0.555556 - 17.7778)');
  });

  it('scales and offsets any numeric column, declared unit or not', () => {
    const resolved = resolveConversions(spec, { score: { scale: 10, offset: -5 }, income: { scale: 1000 } });
    expect(apply(resolved.get('score'), '2')).toBe(15);
    expect(apply(resolved.get('income'), '1.5')).toBe(1500);
    expect(resolved.get('score')!.description).toBe('x 10 - 5');
  });

  it('reads a date feature in the mapping\'s format, or in YYYY-MM-DD without one', () => {
    expect(apply(resolveConversions(spec, { opened: { date: 'DD/MM/YYYY' } }).get('opened'), '31/12/2026')).toBe(20_818);
    const plain = resolveConversions(spec).get('opened');
    expect(plain).toMatchObject({ kind: 'date', format: 'YYYY-MM-DD', description: 'date YYYY-MM-DD -> days since 1970-01-01' });
    expect(apply(plain, '2026-12-31')).toBe(20_818);
    expect(apply(plain, '31/12/2026')).toBeUndefined();
  });

  it('leaves alone the columns the job does not use', () => {
    expect([...resolveConversions(spec, { elsewhere: { from: 'USD', to: 'GBP', rate: 0.8 } }).keys()]).toEqual(['opened']);
  });

  it.each<[string, Record<string, Conversion>, RegExp]>([
    ['a unit other than the declared one', { income: { from: 'EUR', to: 'USD', rate: 1.08 } }, /conversions\.income: converts to USD, but the job declares income in EUR/],
    ['a unit where the job declares none', { score: { from: 'lb', to: 'kg' } }, /the job declares no unit for score/],
    ['a date format on a column that is not a date', { income: { date: 'DD/MM/YYYY' } }, /the job does not declare income a date/],
    ['a scale on a date', { opened: { scale: 2 } }, /the job declares opened a date: give its format/],
    ['any conversion of a categorical column', { home: { scale: 2 } }, /the job's column home is categorical/],
    ['a conversion of a categorical target', { status: { scale: 2 } }, /the job's column status is categorical/],
  ])('refuses %s, with code DATA_UNCONVERTIBLE', (_, conversions, why) => {
    let error: unknown;
    try {
      resolveConversions(spec, conversions);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DataError);
    expect(error).toMatchObject({ code: 'DATA_UNCONVERTIBLE', counts: { columns: 1 } });
    expect((error as Error).message).toMatch(why);
  });

  it('scales the numeric target of a linear model', () => {
    const linear = job([{ name: 'x', type: 'numeric' }], { model: 'linear', target: 'price' });
    expect(apply(resolveConversions(linear, { price: { scale: 0.001 } }).get('price'), '2500')).toBe(2.5);
  });
});
