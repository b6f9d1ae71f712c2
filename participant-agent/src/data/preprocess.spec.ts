import type { Preprocessing } from '@fl/shared';
import { encodeFeatures, encodeTarget, featureNames, prepare } from './preprocess';
import { tableOf, type LocalTable, type Value } from './table';

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

const table = (...rows: Value[][]): LocalTable => tableOf(['age', 'home', 'status'], rows, ['numeric', 'categorical', 'categorical']);

const only = (feature: Preprocessing['features'][number], inputDim: number): Preprocessing => ({ ...preprocessing, features: [feature], inputDim });

describe('numeric features', () => {
  it('z-scores with the global mean and std and imputes missing values to exactly 0', () => {
    const data = tableOf(['age', 'status'], [[40, 'good'], [10, 'good'], [null, 'good'], [30, 'good']]);

    const { x, imputed } = encodeFeatures(data, only({ name: 'age', type: 'numeric', mean: 30, std: 10 }, 1));

    expect(Array.from(x)).toEqual([1, -2, 0, 0]);
    expect(imputed).toEqual({ age: 1 });
  });

  it.each([0, 1e-15, NaN])('divides by 1 when the std is %d', (std) => {
    const data = tableOf(['age', 'status'], [[7, 'good'], [null, 'good']]);

    expect(Array.from(encodeFeatures(data, only({ name: 'age', type: 'numeric', mean: 5, std }, 1)).x)).toEqual([2, 0]);
  });

  it('refuses text', () => {
    const data = tableOf(['age', 'status'], [['7', 'good']]);

    expect(() => encodeFeatures(data, only({ name: 'age', type: 'numeric', mean: 0, std: 1 }, 1))).toThrow(/holds text/);
  });
});

describe('categorical features', () => {
  it('maps known values to their vocabulary index, missing and unseen values to the unknown level', () => {
    const data = tableOf(['home', 'status'], [['rent'], ['owner'], [null], ['parents'], ['__proto__']].map((r) => [...r, 'good']));

    const { x, imputed, unknownCategories } = encodeFeatures(data, only({ name: 'home', type: 'categorical', vocabulary: ['owner', 'rent'] }, 3));

    // levels 1, 0, 2, 2, 2
    expect(Array.from(x)).toEqual([0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1]);
    expect(imputed).toEqual({ home: 1 });
    expect(unknownCategories).toEqual({ home: 2 });
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
    const data = tableOf(['home', 'age', 'status'], [['owner', 50, 'good']]);

    expect(Array.from(encodeFeatures(data, preprocessing).x)).toEqual([2, 1, 0, 0]);
  });

  it('encodes only the rows asked for, in their order', () => {
    const data = table([40, 'rent', 'good'], [20, 'owner', 'bad'], [30, 'rent', 'good']);

    expect(Array.from(encodeFeatures(data, preprocessing, Uint32Array.of(2, 0)).x)).toEqual([0, 0, 1, 0, 1, 0, 1, 0]);
  });

  it('throws when the layout does not match inputDim', () => {
    expect(() => encodeFeatures(table(), { ...preprocessing, inputDim: 3 })).toThrow('expand to 4 inputs but the job expects 3');
  });

  it('throws when a feature column is absent', () => {
    const data = tableOf(['age', 'status'], [], ['numeric', 'categorical']);

    expect(() => encodeFeatures(data, preprocessing)).toThrow('no column "home"');
  });

  it('handles a column named __proto__ in its reports', () => {
    const pre: Preprocessing = { ...preprocessing, features: [{ name: '__proto__', type: 'categorical', vocabulary: ['a'] }], inputDim: 2 };
    const data = tableOf(['__proto__', 'status'], [[null, 'good'], ['b', 'bad']]);

    const { x, imputed, unknownCategories } = encodeFeatures(data, pre);

    expect(Array.from(x)).toEqual([0, 1, 0, 1]);
    expect(Object.keys(imputed)).toEqual(['__proto__']);
    expect(imputed['__proto__']).toBe(1);
    expect(unknownCategories['__proto__']).toBe(1);
  });
});

describe('encodeTarget', () => {
  it('drops rows without a target and counts them', () => {
    const { rows, droppedMissingTarget, unknownTargets } = encodeTarget(table([1, 'rent', 'good'], [2, 'rent', null], [3, null, 'bad']), preprocessing.target);

    expect(Array.from(rows)).toEqual([0, 2]);
    expect([droppedMissingTarget, unknownTargets]).toEqual([1, 0]);
  });

  it('binary: 1 for classes[1], 0 for classes[0], other labels dropped and counted', () => {
    const data = table([1, 'rent', 'bad'], [2, 'rent', 'good'], [3, 'rent', 'unsure'], [4, 'rent', 'bad']);

    const { rows, y, unknownTargets } = encodeTarget(data, { type: 'binary', classes: ['good', 'bad'] });

    expect(Array.from(y)).toEqual([1, 0, 1]);
    expect(Array.from(rows)).toEqual([0, 1, 3]);
    expect(unknownTargets).toBe(1);
  });

  it('classes: the class index, unknown classes dropped and counted', () => {
    const data = table([1, 'rent', 'c'], [2, 'rent', 'a'], [3, 'rent', 'z'], [4, 'rent', 'b']);

    const { y, unknownTargets } = encodeTarget(data, { type: 'classes', classes: ['a', 'b', 'c'] });

    expect(Array.from(y)).toEqual([2, 0, 1]);
    expect(unknownTargets).toBe(1);
  });

  it('numeric: standardized with the global mean and std', () => {
    const data = tableOf(['age', 'home', 'status'], [[1, 'rent', 14], [2, 'rent', 6]]);

    expect(Array.from(encodeTarget(data, { type: 'numeric', mean: 10, std: 4 }).y)).toEqual([1, -1]);
    expect(Array.from(encodeTarget(data, { type: 'numeric', mean: 10, std: 0 }).y)).toEqual([4, -4]);
  });

  it('refuses a target of the wrong type', () => {
    expect(() => encodeTarget(table([1, 'rent', 'x']), { type: 'numeric', mean: 0, std: 1 })).toThrow(/holds text/);
    expect(() => encodeTarget(tableOf(['age', 'home', 'status'], [[1, 'rent', 1]]), { type: 'binary', classes: ['0', '1'] })).toThrow(/holds numbers/);
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
    const data = tableOf(['a', 'b', 'c', 't'], [['y', 2, 'q', 5]]);

    const prepared = prepare(data, pre);

    expect(prepared.d).toBe(6);
    expect(Array.from(prepared.x)).toEqual([0, 1, 0, 0, 2, 1]);
    expect(Array.from(prepared.y)).toEqual([5]);
  });
});
