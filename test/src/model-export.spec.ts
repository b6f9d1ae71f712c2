/**
 * Models leave the system in standard formats: the ONNX graph (preprocessing and
 * model, raw columns in) run by ONNX Runtime (its WebAssembly package), and the
 * TF.js LayersModel loaded by tf.loadLayersModel, each predicting what the
 * system's own predict() gives on held-out rows of the bundled data, for every
 * model kind; and the coordinator serving both for a job trained by real agents.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// Registers TF.js's plain-JS backend, which loads the exported model as a TF.js user would.
import '@tensorflow/tfjs-backend-cpu';
import { combineStatistics, toOnnx, toTfjs, type RunningCoordinator } from '@fl/coordinator';
import {
  computeStatistics,
  isMissing,
  parseCsv,
  prepare,
  toLocalTable,
  trainLocal,
  type CsvRow,
} from '@fl/participant-agent';
import {
  EXIT,
  JobSpecSchema,
  kmeansPlusPlus,
  lloyd,
  modelShapeOf,
  predict,
  seededRandom,
  type JobSpec,
  type JobSpecInput,
  type ModelShape,
  type Preprocessing,
} from '@fl/shared';
import { AdminApi, DATA_DIR, featuresOf, splitCsv, startAgent, tempDir, testCoordinator } from './harness';
import { AGENT_CLI } from './processes';

jest.setTimeout(300_000);

const CREDIT_CATEGORIES = ['Home', 'Marital', 'Records', 'Job'];

interface Trained {
  spec: JobSpec;
  shape: ModelShape;
  weights: Float32Array;
  preprocessing: Preprocessing;
  /** the held-out rows as the CSV has them */
  header: string[];
  rows: CsvRow[];
}

/** A model of the kind trained centrally on 80% of a bundled file, as a site would, and the other 20% to predict. */
async function trained(file: string, input: Omit<JobSpecInput, 'features'>, categorical: string[] = []): Promise<Trained> {
  const csv = parseCsv(fs.readFileSync(path.join(DATA_DIR, file)));
  const spec = JobSpecSchema.parse({ ...input, features: featuresOf(path.join(DATA_DIR, file), input.target ?? '', categorical) });
  const cut = Math.floor(csv.rows.length * 0.8);
  const train = toLocalTable({ ...csv, rows: csv.rows.slice(0, cut) }, spec).table;
  const preprocessing = combineStatistics(spec, [computeStatistics(train, spec)]);
  const shape = modelShapeOf(spec.model, preprocessing, spec.k);
  const data = prepare(train, preprocessing);
  let weights: Float32Array;
  if (shape.kind === 'kmeans') {
    const { centres, counts } = lloyd(data.x, data.n, shape.inputDim, shape.outputDim, kmeansPlusPlus(data.x, data.n, shape.inputDim, shape.outputDim, undefined, seededRandom(1)), 100);
    weights = new Float32Array([...centres, ...Array.from(counts, (c) => c / data.n)]);
  } else {
    const params = new Float32Array((shape.inputDim + 1) * shape.outputDim);
    ({ params: weights } = await trainLocal({ shape, params, x: data.x, y: data.y, n: data.n, epochs: 5, batchSize: 16, learningRate: 0.05, l2: 0, seed: 3 }));
  }
  return { spec, shape, weights, preprocessing, header: csv.header, rows: csv.rows.slice(cut) };
}

/** What predict() gives on the held-out rows, prepared as the agents prepare them. */
function ownPredictions(model: Trained): { n: number; values: Float32Array } {
  const features = { ...model.spec, target: undefined, model: 'kmeans' as const };
  const table = toLocalTable({ header: model.header, rows: model.rows, problems: [] }, features as JobSpec).table;
  const data = prepare(table, { ...model.preprocessing, target: { type: 'none' } });
  const values = predict(model.shape, model.weights, data.x, data.n);
  // A linear model predicts the standardized target; the exports give it in the target's units.
  const { target } = model.preprocessing;
  if (target.type === 'numeric') for (let i = 0; i < values.length; i++) values[i] = values[i] * (target.std > 1e-12 ? target.std : 1) + target.mean;
  return { n: data.n, values };
}

type Feeds = Record<string, { type: 'float32' | 'string'; data: (number | string | null)[]; dims: number[] }>;

/** The raw columns of the held-out rows as ONNX inputs: numbers as float (NaN, as null, when missing), categories as trimmed text ("" when missing). */
function rawInputs(model: Trained): Feeds {
  const feeds: Feeds = {};
  for (const feature of model.spec.features) {
    const at = model.header.indexOf(feature.name);
    const fields = model.rows.map((r) => r.fields[at]);
    feeds[feature.name] =
      feature.type === 'numeric'
        ? { type: 'float32', data: fields.map((v) => (isMissing(v) ? null : Number(v.trim()))), dims: [fields.length, 1] }
        : { type: 'string', data: fields.map((v) => (isMissing(v) ? '' : v.trim())), dims: [fields.length, 1] };
  }
  return feeds;
}

/** ONNX Runtime (WebAssembly) on the model's bytes, in a process of its own (onnx-runner.ts). */
async function runOnnx(bytes: Uint8Array, feeds: Feeds, outputName = 'output'): Promise<Float32Array> {
  const file = path.join(tempDir('onnx'), 'model.onnx');
  fs.writeFileSync(file, bytes);
  const child = promisify(execFile)(process.execPath, [ONNX_RUNNER, file], { maxBuffer: 64 * 1024 * 1024 });
  child.child.stdin!.end(JSON.stringify(feeds));
  const { stdout } = await child;
  const { outputs, output } = JSON.parse(stdout) as { outputs: string[]; output: number[] };
  expect(outputs).toEqual([outputName]);
  return Float32Array.from(output);
}

/** tf.loadLayersModel from the two files, read from disk as a browser would fetch them. */
async function loadTfjs(dir: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const manifest = json.weightsManifest[0];
  const weightData = new Uint8Array(fs.readFileSync(path.join(dir, manifest.paths[0]))).buffer;
  return tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: manifest.weights, weightData }));
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  expect(worst).toBeLessThan(tolerance);
}

const ONNX_RUNNER = path.join(__dirname, '..', 'dist', 'onnx-runner.js');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe.each([
  ['credit_data.csv', 'logistic (categories, missing values)', { model: 'logistic', target: 'Status', positiveClass: 'bad' }, CREDIT_CATEGORIES],
  ['wine.csv', 'softmax', { model: 'softmax', target: 'cultivar' }, []],
  ['diabetes.csv', 'linear', { model: 'linear', target: 'progression' }, []],
  ['breast_cancer.csv', 'svm', { model: 'svm', target: 'diagnosis' }, []],
  ['credit_data.csv', 'kmeans (categories, missing values)', { model: 'kmeans', k: 4 }, CREDIT_CATEGORIES],
] as const)('%s, %s', (file, _title, input, categorical) => {
  let model: Trained;
  let own: { n: number; values: Float32Array };

  beforeAll(async () => {
    model = await trained(file, input as Omit<JobSpecInput, 'features'>, [...categorical]);
    own = ownPredictions(model);
  });

  it('the ONNX model, raw columns in, predicts what the system predicts', async () => {
    const output = await runOnnx(toOnnx(model.shape, model.weights, model.preprocessing, 'test'), rawInputs(model));
    expectClose(output, own.values, 1e-4);
  });

  it("the ONNX model predicts the same whatever the columns' names, the graph's own among them", async () => {
    // Columns named as the graph's tensors were (W, b, features, one…), one starting with its prefix, and one named output
    const names = ['W', 'b', 'features', 'one', '_f0_mean', 'output'];
    const renames = new Map(model.spec.features.slice(0, names.length).map((f, i) => [f.name, names[i]]));
    const rename = (name: string) => renames.get(name) ?? name;
    const renamed: Trained = {
      ...model,
      spec: { ...model.spec, features: model.spec.features.map((f) => ({ ...f, name: rename(f.name) })) },
      preprocessing: { ...model.preprocessing, features: model.preprocessing.features.map((f) => ({ ...f, name: rename(f.name) })) },
      header: model.header.map(rename),
    };
    // The output keeps its name unless a column has it; then it takes the graph's prefix (here `__`: a column starts with `_`).
    const output = await runOnnx(toOnnx(renamed.shape, renamed.weights, renamed.preprocessing, 'test'), rawInputs(renamed), '__output');
    expectClose(output, own.values, 1e-4);
  });

  it('the TF.js LayersModel, prepared rows in, predicts what the system predicts', async () => {
    const dir = tempDir('tfjs');
    const { modelJson, weights } = toTfjs(model.shape, model.weights, model.preprocessing);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
    fs.writeFileSync(path.join(dir, 'weights.bin'), weights);
    const layers = await loadTfjs(dir);
    const features = { ...model.spec, target: undefined, model: 'kmeans' as const };
    const data = prepare(toLocalTable({ header: model.header, rows: model.rows, problems: [] }, features as JobSpec).table, { ...model.preprocessing, target: { type: 'none' } });
    const out = tf.tidy(() => (layers.predict(tf.tensor2d(data.x, [data.n, model.shape.inputDim])) as tf.Tensor).dataSync().slice());
    layers.dispose();
    if (model.shape.kind === 'kmeans') {
      // ‖c‖² − 2·x·c: the squared distances less ‖x‖², the same nearest centre.
      const k = model.shape.outputDim;
      for (let r = 0; r < data.n; r++) {
        const row = (values: ArrayLike<number>) => Array.from({ length: k }, (_, c) => values[r * k + c]);
        const argmin = (v: number[]) => v.indexOf(Math.min(...v));
        expect(argmin(row(out))).toBe(argmin(row(own.values)));
      }
    } else {
      expectClose(out, own.values, 1e-4);
    }
  });
});

describe('the coordinator serves the exports of a model trained by real agents', () => {
  let coordinator: RunningCoordinator;
  let jobId: string;
  let holdout: string;
  const file = path.join(DATA_DIR, 'credit_data.csv');

  beforeAll(async () => {
    coordinator = await testCoordinator();
    const split = splitCsv(file, 2, { seed: 3, holdout: 0.2, dir: tempDir('export-data') });
    holdout = split.holdout;
    const agents = await Promise.all(split.parties.map((party, i) => startAgent(coordinator, `site-${i}`, party)));
    try {
      const job = await AdminApi.of(coordinator).createJob({
        model: 'logistic',
        target: 'Status',
        positiveClass: 'bad',
        features: featuresOf(file, 'Status', CREDIT_CATEGORIES),
        rounds: 3,
        minParticipants: 2,
        evaluateEvery: 0,
      });
      jobId = job.id;
      await coordinator.engine.whenFinished(job.id);
    } finally {
      agents.forEach((a) => a.stop());
    }
  });

  afterAll(async () => {
    await coordinator?.close();
  });

  function get(query: string): Promise<Response> {
    return fetch(`${coordinator.url}/api/jobs/${jobId}/model${query}`, { headers: { authorization: `Bearer ${coordinator.adminToken}` } });
  }

  it('GET ?format=onnx returns model.onnx, which ONNX Runtime runs to the JSON model\'s predictions', async () => {
    const view = await AdminApi.of(coordinator).model(jobId);
    const response = await get('?format=onnx');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toMatch(/attachment; filename="model.onnx"/);
    const bytes = new Uint8Array(await response.arrayBuffer());
    const csv = parseCsv(fs.readFileSync(file));
    const spec = JobSpecSchema.parse({ model: 'logistic', target: 'Status', positiveClass: 'bad', features: featuresOf(file, 'Status', CREDIT_CATEGORIES) });
    const model: Trained = { spec, shape: view.shape, weights: new Float32Array(view.weights), preprocessing: view.preprocessing, header: csv.header, rows: csv.rows.slice(0, 300) };
    expectClose(await runOnnx(bytes, rawInputs(model)), ownPredictions(model).values, 1e-4);
  });

  it('GET ?format=tfjs returns model.json whose weights are at the path it names', async () => {
    const json = (await (await get('?format=tfjs')).json()) as tf.io.ModelJSON;
    const [manifest] = json.weightsManifest;
    expect(manifest.paths[0]).toBe('model?format=tfjs-weights&round=3');
    const weights = await get(`?${manifest.paths[0].split('?')[1]}`);
    expect(weights.status).toBe(200);
    expect((await weights.arrayBuffer()).byteLength).toBe(manifest.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * 4, 0));
  });

  it('`fl-agent predict` scores a site\'s rows with the served model where they are: the classes predict() gives', async () => {
    // Prepare: the model as the API serves it, and a site's file, the target column in it or not
    const dir = tempDir('predict');
    const modelFile = path.join(dir, 'model.json');
    fs.writeFileSync(modelFile, JSON.stringify(await AdminApi.of(coordinator).model(jobId)));
    const out = path.join(dir, 'predictions.csv');

    // Execute
    const { stdout } = await promisify(execFile)(process.execPath, [AGENT_CLI, 'predict', '--model', modelFile, '--data', holdout, '--out', out]);

    // Assert: one line per row, in order, each the class of the probability predict() gives
    const csv = parseCsv(fs.readFileSync(holdout));
    expect(stdout).toContain(`${csv.rows.length} rows scored with the logistic model of job ${jobId}, round 3`);
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('prediction,probability_bad');
    expect(lines).toHaveLength(csv.rows.length + 1);
    const view = await AdminApi.of(coordinator).model(jobId);
    const spec = JobSpecSchema.parse({ model: 'logistic', target: 'Status', positiveClass: 'bad', features: featuresOf(file, 'Status', CREDIT_CATEGORIES) });
    const own = ownPredictions({ spec, shape: view.shape, weights: new Float32Array(view.weights), preprocessing: view.preprocessing, header: csv.header, rows: csv.rows });
    lines.slice(1).forEach((line, r) => {
      const [label, probability] = line.split(',');
      expect(Number(probability)).toBeCloseTo(own.values[r], 5);
      expect(label).toBe(own.values[r] >= 0.5 ? 'bad' : 'good');
    });
    // Better than always answering "good" on the held-out rows (72% of the rows)
    const statusAt = csv.header.indexOf('Status');
    const right = lines.slice(1).filter((line, r) => line.split(',')[0] === csv.rows[r].fields[statusAt]).length;
    expect(right / csv.rows.length).toBeGreaterThan(0.74);
  });

  it('`fl-agent predict` refuses a file that is not a model, with a usage error', async () => {
    const dir = tempDir('predict-bad');
    const modelFile = path.join(dir, 'model.json');
    fs.writeFileSync(modelFile, JSON.stringify({ weights: [1, 2] }));
    const failed = await promisify(execFile)(process.execPath, [AGENT_CLI, 'predict', '--model', modelFile, '--data', holdout, '--out', path.join(dir, 'p.csv')]).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(EXIT.USAGE);
    expect(failed?.stderr).toMatch(/--model: .* is not a model as GET \/api\/jobs\/\{id\}\/model gives it/);
  });

  it('`fl-agent predict` refuses a file with a row of the wrong number of fields, which would shift the predictions after it, and writes none', async () => {
    // Prepare: the held-out file with a short row after its second
    const dir = tempDir('predict-short-row');
    const modelFile = path.join(dir, 'model.json');
    fs.writeFileSync(modelFile, JSON.stringify(await AdminApi.of(coordinator).model(jobId)));
    const lines = fs.readFileSync(holdout, 'utf8').trim().split('\n');
    const data = path.join(dir, 'rows.csv');
    fs.writeFileSync(data, [...lines.slice(0, 3), 'good,1,2', ...lines.slice(3)].join('\n') + '\n');
    const out = path.join(dir, 'p.csv');
    // Execute
    const failed = await promisify(execFile)(process.execPath, [AGENT_CLI, 'predict', '--model', modelFile, '--data', data, '--out', out]).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    // Assert
    expect(failed?.code).toBe(EXIT.FAILED);
    expect(failed?.stderr).toMatch(/^fl-agent: DATA_UNREADABLE: rows with a wrong number of fields: 1, the first at line 4 \(expected \d+ fields, found 3\)/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses an unknown format with a validation error', async () => {
    const response = await get('?format=pmml');
    expect(response.status).toBe(400);
  });
});
