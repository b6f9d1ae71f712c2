import type { Preprocessing } from '@fl/shared';
import {
  categoricalColumn,
  dropMissingTarget,
  encodeFeatures,
  encodeTarget,
  featureNames,
  numericColumn,
  prepare,
} from './preprocess';
import type { LocalTable } from './table';

// Global statistics: age has mean 30 and std 10; home has two known values plus the unknown level.
const preprocessing: Preprocessing = {
  features: [
    { name: 'age', type: 'numeric', mean: 30, std: 10 },
    { name: 'home', type: 'categorical', vocabulary: ['owner', 'rent'] },
  ],
  target: { type: 'binary', classes: ['good', 'bad'] },
  inputDim: 4,
  rows: 100,
};

const table = (...rows: LocalTable['rows'][number]['values'][]): LocalTable => ({
  columns: ['age', 'home', 'status'],
  rows: rows.map((values, i) => ({ line: i + 2, values })),
});

describe('dropMissingTarget', () => {
  it('drops rows without a target and counts them', () => {
    const { table: kept, dropped } = dropMissingTarget(table([1, 'rent', 'good'], [2, 'rent', null], [3, null, 'bad']));

    expect(kept.rows.map((r) => r.line)).toEqual([2, 4]);
    expect(dropped).toBe(1);
  });
});

describe('numericColumn', () => {
  it('z-scores with the global mean and std and imputes missing values to exactly 0', () => {
    const { values, imputed } = numericColumn([40, 10, null, 30], 30, 10);

    expect(values).toEqual([1, -2, 0, 0]);
    expect(imputed).toBe(1);
  });

  it.each([0, 1e-15, NaN])('divides by 1 when the std is %d', (std) => {
    expect(numericColumn([7, null], 5, std).values).toEqual([2, 0]);
  });

  it('refuses text', () => {
    expect(() => numericColumn(['7'], 0, 1)).toThrow(/holds text/);
  });
});

describe('categoricalColumn', () => {
  it('maps known values to their vocabulary index, missing and unseen values to the unknown level', () => {
    const column = categoricalColumn(['rent', 'owner', null, 'parents', '__proto__'], ['owner', 'rent']);

    expect(column).toEqual({ levels: [1, 0, 2, 2, 2], imputed: 1, unknown: 2 });
  });
});

describe('encodeFeatures', () => {
  it('lays out numeric then one-hot columns with an unknown level, in preprocessing order', () => {
    // Prepare
    const data = table([40, 'rent', 'good'], [null, 'owner', 'bad'], [20, 'parents', 'good'], [30, null, 'bad']);

    // Execute
    const { n, d, x, imputed, unknownCategories } = encodeFeatures(data, preprocessing);

    // Assert
    expect([n, d]).toEqual([4, 4]);
    expect(Array.from(x)).toEqual([
      1,  0, 1, 0,
      0,  1, 0, 0,
      -1, 0, 0, 1,
      0,  0, 0, 1,
    ]);
    expect(imputed).toEqual({ age: 1, home: 1 });
    expect(unknownCategories).toEqual({ home: 1 });
  });

  it('finds columns by name, whatever the table order', () => {
    const data: LocalTable = { columns: ['home', 'age', 'status'], rows: [{ line: 2, values: ['owner', 50, 'good'] }] };

    expect(Array.from(encodeFeatures(data, preprocessing).x)).toEqual([2, 1, 0, 0]);
  });

  it('throws when the layout does not match inputDim', () => {
    expect(() => encodeFeatures(table(), { ...preprocessing, inputDim: 3 })).toThrow('expand to 4 inputs but the job expects 3');
  });

  it('throws when a feature column is absent', () => {
    const data: LocalTable = { columns: ['age', 'status'], rows: [] };

    expect(() => encodeFeatures(data, preprocessing)).toThrow('no column "home"');
  });

  it('handles a column named __proto__ in its reports', () => {
    const pre: Preprocessing = { ...preprocessing, features: [{ name: '__proto__', type: 'categorical', vocabulary: ['a'] }], inputDim: 2 };
    const data: LocalTable = { columns: ['__proto__', 'status'], rows: [{ line: 2, values: [null, 'good'] }, { line: 3, values: ['b', 'bad'] }] };

    const { x, imputed, unknownCategories } = encodeFeatures(data, pre);

    expect(Array.from(x)).toEqual([0, 1, 0, 1]);
    expect(Object.keys(imputed)).toEqual(['__proto__']);
    expect(imputed['__proto__']).toBe(1);
    expect(unknownCategories['__proto__']).toBe(1);
  });
});

describe('encodeTarget', () => {
  it('binary: 1 for classes[1], 0 for classes[0], other labels dropped and counted', () => {
    const data = table([1, 'rent', 'bad'], [2, 'rent', 'good'], [3, 'rent', 'unsure'], [4, 'rent', 'bad']);

    const { table: kept, y, unknownTargets } = encodeTarget(data, { type: 'binary', classes: ['good', 'bad'] });

    expect(Array.from(y)).toEqual([1, 0, 1]);
    expect(kept.rows.map((r) => r.values[0])).toEqual([1, 2, 4]);
    expect(unknownTargets).toBe(1);
  });

  it('classes: the class index, unknown classes dropped and counted', () => {
    const data = table([1, 'rent', 'c'], [2, 'rent', 'a'], [3, 'rent', 'z'], [4, 'rent', 'b']);

    const { y, unknownTargets } = encodeTarget(data, { type: 'classes', classes: ['a', 'b', 'c'] });

    expect(Array.from(y)).toEqual([2, 0, 1]);
    expect(unknownTargets).toBe(1);
  });

  it('numeric: standardized with the global mean and std', () => {
    const data = table([1, 'rent', 14], [2, 'rent', 6]);

    expect(Array.from(encodeTarget(data, { type: 'numeric', mean: 10, std: 4 }).y)).toEqual([1, -1]);
    expect(Array.from(encodeTarget(data, { type: 'numeric', mean: 10, std: 0 }).y)).toEqual([4, -4]);
  });

  it('refuses a target of the wrong type', () => {
    expect(() => encodeTarget(table([1, 'rent', 'x']), { type: 'numeric', mean: 0, std: 1 })).toThrow(/holds text/);
    expect(() => encodeTarget(table([1, 'rent', 1]), { type: 'binary', classes: ['0', '1'] })).toThrow(/holds numbers/);
  });
});

describe('featureNames', () => {
  it('expands categorical features with an unknown level', () => {
    expect(featureNames(preprocessing)).toEqual(['age', 'home=owner', 'home=rent', 'home=<unknown>']);
  });
});

describe('prepare', () => {
  it('drops rows without a usable target, encodes the rest, and reports what it did', () => {
    // Prepare
    const data = table(
      [40, 'rent', 'bad'],
      [null, 'parents', 'good'],
      [50, 'owner', null],
      [10, 'owner', 'maybe'],
      [20, null, 'good'],
    );

    // Execute
    const prepared = prepare(data, preprocessing);

    // Assert
    expect(prepared.n).toBe(3);
    expect(prepared.d).toBe(preprocessing.inputDim);
    expect(prepared.x).toHaveLength(prepared.n * preprocessing.inputDim);
    expect(Array.from(prepared.x)).toEqual([
      1,  0, 1, 0,
      0,  0, 0, 1,
      -1, 0, 0, 1,
    ]);
    expect(Array.from(prepared.y)).toEqual([1, 0, 0]);
    expect(prepared.report).toEqual({
      droppedMissingTarget: 1,
      unknownTargets: 1,
      imputed: { age: 1, home: 1 },
      unknownCategories: { home: 1 },
    });
  });

  it('gives width inputDim for several categorical features', () => {
    const pre: Preprocessing = {
      features: [
        { name: 'a', type: 'categorical', vocabulary: ['x', 'y', 'z'] },
        { name: 'b', type: 'numeric', mean: 0, std: 1 },
        { name: 'c', type: 'categorical', vocabulary: [] },
      ],
      target: { type: 'numeric', mean: 0, std: 1 },
      inputDim: 6,
      rows: 1,
    };
    const data: LocalTable = { columns: ['a', 'b', 'c', 't'], rows: [{ line: 2, values: ['y', 2, 'q', 5] }] };

    const prepared = prepare(data, pre);

    expect(prepared.d).toBe(6);
    expect(Array.from(prepared.x)).toEqual([0, 1, 0, 0, 2, 1]);
    expect(Array.from(prepared.y)).toEqual([5]);
  });
});
