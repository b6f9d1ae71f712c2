import { binaryLogLoss, multiclassLogLoss, predict as referencePredict, type ModelShape } from '@fl/shared';
import { jsKernel, type Kernel } from './kernel';
import { assemble, simdKernel } from './simd-kernel';
import { trainWithKernel } from './sgd';
import { evaluateLocal } from './trainer';

/** Seeded values in [-1, 1), so that a failure reproduces. */
function values(count: number, seed: number): Float32Array {
  let state = seed >>> 0;
  return Float32Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-4) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i])).toBeLessThan(tolerance * (1 + Math.abs(expected[i])));
}

/** One forward, backward and step through a kernel on a seeded problem; returns what each produced. */
function exercise(kernel: Kernel, n: number, d: number, k: number, start: number, end: number) {
  const layout = kernel.load(values(n * d, 1), n, d, k, end - start);
  for (let i = 0; i < n; i++) layout.order[i] = (i * 7 + 3) % n;
  layout.w.set(values(k * d, 2));
  kernel.forward(start, end);
  const z = layout.z.slice(0, (end - start) * k);
  // Residuals with zeros among them: backward skips those.
  layout.z.set(values((end - start) * k, 3).map((v) => (v > 0.5 ? 0 : v)));
  kernel.backward(start, end);
  const g = layout.g.slice();
  kernel.step(0.9, 0.25);
  return { z, g, w: layout.w.slice(), gAfter: layout.g.slice() };
}

describe('the SIMD kernel', () => {
  const simd = simdKernel();

  it('assembles a module the runtime validates and compiles', () => {
    // Node 20 has WebAssembly SIMD, so the fallback is not what these tests exercise.
    expect(Buffer.from(assemble().subarray(0, 4)).toString('latin1')).toBe('\0asm');
    expect(simd?.name).toBe('wasm-simd');
  });

  it.each([
    // rows, inputs, outputs, batch start and end: widths around the 4- and 8-float vector steps, batches
    // shorter than the 4-row groups, and several outputs.
    [37, 13, 3, 3, 11],
    [10, 8, 1, 0, 10],
    [5, 1, 1, 1, 3],
    [64, 100, 1, 0, 64],
    [9, 31, 7, 2, 9],
    [300, 16, 2, 256, 300],
  ])('computes what the plain-JS kernel does on %i rows x %i inputs x %i outputs', (n, d, k, start, end) => {
    // Execute
    const fast = exercise(simd!, n, d, k, start, end);
    const reference = exercise(jsKernel(), n, d, k, start, end);

    // Assert
    expectClose(fast.z, reference.z);
    expectClose(fast.g, reference.g);
    expectClose(fast.w, reference.w);
    expect(Array.from(fast.gAfter).every((v) => v === 0)).toBe(true);
  });

  it('trains to the same parameters as the plain-JS kernel', async () => {
    // Prepare
    const shape: ModelShape = { kind: 'softmax', inputDim: 6, outputDim: 3 };
    const n = 200;
    const x = values(n * 6, 4);
    const y = Float32Array.from({ length: n }, (_, i) => (x[i * 6] > 0 ? 0 : x[i * 6 + 1] > 0 ? 1 : 2));
    const options = { shape, params: new Float32Array(21), x, y, n, epochs: 3, batchSize: 16, learningRate: 0.3, l2: 0.01, seed: 5 };

    // Execute
    const fast = await trainWithKernel(options, simd!);
    const reference = await trainWithKernel(options, jsKernel());

    // Assert
    expectClose(fast.params, reference.params, 1e-3);
    expect(fast.loss).toBeCloseTo(reference.loss, 4);
  });

  it('runs overlapping training calls one after the other, each with its own data', async () => {
    // Prepare: two problems of different sizes share the kernel's memory.
    const shape: ModelShape = { kind: 'linear', inputDim: 3, outputDim: 1 };
    const first = { shape, params: new Float32Array(4), x: values(300, 5), y: values(100, 6), n: 100, epochs: 4, batchSize: 8, learningRate: 0.1, l2: 0, seed: 1 };
    const second = { ...first, x: values(150, 7), y: values(50, 8), n: 50 };
    const alone = [await trainWithKernel(first, simd!), await trainWithKernel(second, simd!)];

    // Execute
    const together = await Promise.all([trainWithKernel(first, simd!), trainWithKernel(second, simd!)]);

    // Assert
    expect(Array.from(together[0].params)).toEqual(Array.from(alone[0].params));
    expect(Array.from(together[1].params)).toEqual(Array.from(alone[1].params));
  });
});

describe('evaluateLocal', () => {
  it('predicts as the shared model maths do', () => {
    // Prepare
    const n = 50;
    const x = values(n * 9, 9);
    const softmax: ModelShape = { kind: 'softmax', inputDim: 9, outputDim: 4 };
    const logistic: ModelShape = { kind: 'logistic', inputDim: 9, outputDim: 1 };
    const classes = Float32Array.from({ length: n }, (_, i) => i % 4);
    const binary = Float32Array.from({ length: n }, (_, i) => i % 2);
    const softmaxParams = values(40, 10);
    const logisticParams = values(10, 11);

    // Execute
    const multiclass = evaluateLocal(softmax, softmaxParams, x, classes, n);
    const twoClass = evaluateLocal(logistic, logisticParams, x, binary, n);

    // Assert
    expect(multiclass.loss).toBeCloseTo(multiclassLogLoss(referencePredict(softmax, softmaxParams, x, n), classes, 4), 5);
    expect(twoClass.loss).toBeCloseTo(binaryLogLoss(referencePredict(logistic, logisticParams, x, n), binary), 5);
  });
});
