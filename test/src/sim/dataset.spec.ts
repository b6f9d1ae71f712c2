/**
 * The simulator's reading of a CSV file: column types and the model kind
 * inferred from the values, overrides, and a clear refusal for every column
 * name or setting that does not fit the file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseCsv } from '@fl/participant-agent';
import { tempDir } from '../harness';
import { checkTarget, declaredDomain, inferFeatures, inferModel, inferType, readCsvFile, UsageError } from './dataset';

const table = parseCsv(['id,age,city,score,flag', '1,34,Lyon,0.5,yes', '2,NA,Porto,1e3,no', '3,51,,7,yes', '4,29,Lyon,?,no'].join('\n'));

describe('type inference', () => {
  it('reads a column as numbers when every value present is a number, missing ones aside', () => {
    expect(inferType(['34', '51', '29'])).toBe('numeric');
    expect(inferType(['0.5', '1e3', '-7'])).toBe('numeric');
    expect(inferType(['Lyon', 'Porto'])).toBe('categorical');
    // hexadecimal and decimal commas are not numbers to the agents, so not here either
    expect(inferType(['0x1A', '3'])).toBe('categorical');
    expect(inferType(['1,5'])).toBe('categorical');
  });

  it('types every column but the target, in file order, with overrides', () => {
    // Execute
    const features = inferFeatures(table, 'flag', { numeric: [], categorical: ['id'], file: 'f.csv' });
    // Assert: NA, empty and ? are missing, not text
    expect(features).toEqual([
      { name: 'id', type: 'categorical' },
      { name: 'age', type: 'numeric' },
      { name: 'city', type: 'categorical' },
      { name: 'score', type: 'numeric' },
    ]);
  });

  it('refuses override columns the file lacks, the target, and a column given both ways', () => {
    expect(() => inferFeatures(table, 'flag', { numeric: ['height'], categorical: [], file: 'f.csv' })).toThrow(
      new UsageError('--numeric: f.csv has no column "height" (columns: id, age, city, score, flag)'),
    );
    expect(() => inferFeatures(table, 'flag', { numeric: [], categorical: ['flag'], file: 'f.csv' })).toThrow(/flag is the target/);
    expect(() => inferFeatures(table, 'flag', { numeric: ['id'], categorical: ['id'], file: 'f.csv' })).toThrow(/both --numeric and --categorical/);
  });
});

describe('model inference', () => {
  it('two values: logistic; more numbers: linear; more text: softmax', () => {
    expect(inferModel(['yes', 'no', 'yes'], 't')).toBe('logistic');
    expect(inferModel(['0', '1', '1'], 't')).toBe('logistic');
    expect(inferModel(['151', '75', '141.5'], 't')).toBe('linear');
    expect(inferModel(['class_0', 'class_1', 'class_2'], 't')).toBe('softmax');
  });

  it('refuses a target with a single value', () => {
    expect(() => inferModel(['a', 'a'], 'status')).toThrow(new UsageError('the target status has a single value; there is nothing to learn'));
  });

  it('checks a given model against the target and returns the sorted classes', () => {
    expect(checkTarget(['no', 'yes', 'no'], 't', 'logistic')).toEqual(['no', 'yes']);
    expect(checkTarget(['b', 'a', 'c'], 't', 'softmax')).toEqual(['a', 'b', 'c']);
    expect(() => checkTarget(['a', 'b', 'c'], 't', 'logistic')).toThrow(/2 classes; t has 3 \(use --model softmax\)/);
    expect(() => checkTarget(['a', '2'], 't', 'linear')).toThrow(/needs a numeric target/);
  });
});

describe('the declarations of a secure job', () => {
  it('reads bounds, categories and a target range off the rows given, missing values aside', () => {
    // Prepare: the rows of ids 1 to 3; a constant column gets room either side
    const features = inferFeatures(table, 'score', { numeric: ['id'], categorical: [], file: 'f.csv' });
    const withConstant = parseCsv(['k,y', '5,1', '5,2'].join('\n'));
    // Execute
    const declared = declaredDomain(table, table.rows.slice(0, 3), features, 'score');
    // Assert
    expect(declared).toEqual({
      features: [
        { name: 'id', type: 'numeric', bounds: [1, 3] },
        { name: 'age', type: 'numeric', bounds: [34, 51] },
        { name: 'city', type: 'categorical', categories: ['Lyon', 'Porto'] },
        { name: 'flag', type: 'categorical', categories: ['no', 'yes'] },
      ],
      targetBounds: [0.5, 1000],
    });
    expect(declaredDomain(withConstant, withConstant.rows, [{ name: 'k', type: 'numeric' }], undefined)).toEqual({ features: [{ name: 'k', type: 'numeric', bounds: [4, 6] }] });
  });
});

describe('readCsvFile', () => {
  const dir = tempDir('sim-data');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('says in one line why a file cannot be read', () => {
    expect(() => readCsvFile(path.join(dir, 'absent.csv'))).toThrow(/^cannot read .*absent\.csv: no such file$/);
    expect(() => readCsvFile(dir)).toThrow(/: it is a directory$/);
  });

  it('refuses a file without data rows and a header that repeats a column', () => {
    // Prepare
    const empty = path.join(dir, 'empty.csv');
    fs.writeFileSync(empty, 'a,b\n');
    const repeated = path.join(dir, 'repeated.csv');
    fs.writeFileSync(repeated, 'a,b,a\n1,2,3\n');
    // Execute and Assert
    expect(() => readCsvFile(empty)).toThrow(/has no data rows under a header/);
    expect(() => readCsvFile(repeated)).toThrow(/has the column "a" more than once/);
  });
});
