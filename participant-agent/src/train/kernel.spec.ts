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

/** The products of rows n−1, n−2, … (the first `batch` of them) with seeded weights, through a kernel loaded with x. */
function products(kernel: Kernel, x: Float32Array, n: number, d: number, k: number, batch: number): Float32Array {
  const layout = kernel.load(x, n, d, k, batch);
  for (let i = 0; i < n; i++) layout.order[i] = n - 1 - i;
  layout.w.set(values(k * d, 2));
  kernel.forward(0, batch);
  const z = layout.z.slice(0, batch * k);
  // What a training step writes after the products, over whatever the next layout puts there.
  layout.z.fill(7);
  kernel.backward(0, batch);
  kernel.step(0.5, 1);
  return z;
}

describe.each([
  ['the SIMD kernel', () => simdKernel()!],
  ['the plain-JS kernel', jsKernel],
])('load() in %s', (_, kernelOf) => {
  /** The same products through a kernel of the same kind that has nothing loaded to reuse. */
  const fresh = (x: Float32Array, n: number, d: number, k: number, batch: number) => products(kernelOf(), x, n, d, k, batch);

  it('copies another array of the same shape, and the first again after it: agents in one process share the kernel', () => {
    // Prepare
    const kernel = kernelOf();
    const [a, b] = [values(40 * 6, 20), values(40 * 6, 21)];

    // Execute
    const first = products(kernel, a, 40, 6, 2, 8);
    const other = products(kernel, b, 40, 6, 2, 8);
    const again = products(kernel, a, 40, 6, 2, 8);

    // Assert
    expect(Array.from(first)).toEqual(Array.from(fresh(a, 40, 6, 2, 8)));
    expect(Array.from(other)).toEqual(Array.from(fresh(b, 40, 6, 2, 8)));
    expect(Array.from(again)).toEqual(Array.from(first));
  });

  it.each([
    // rows, inputs, outputs and batch of the second load of the same array: x moves with the batch,
    // the outputs and the rows, or its rows are read as fewer, wider ones.
    [40, 6, 2, 32],
    [40, 6, 9, 8],
    [20, 12, 2, 8],
  ])('copies the same array again when it is loaded as %i rows x %i inputs x %i outputs, batch %i', (n, d, k, batch) => {
    // Prepare
    const kernel = kernelOf();
    const x = values(40 * 6, 22);
    products(kernel, x, 40, 6, 2, 8);

    // Execute
    const moved = products(kernel, x, n, d, k, batch);
    const back = products(kernel, x, 40, 6, 2, 8);

    // Assert
    expect(Array.from(moved)).toEqual(Array.from(fresh(x, n, d, k, batch)));
    expect(Array.from(back)).toEqual(Array.from(fresh(x, 40, 6, 2, 8)));
  });

  it('does not copy the same array into the same layout again, so a change in place is not seen (the contract load() states)', () => {
    // Prepare
    const kernel = kernelOf();
    const x = values(40 * 6, 23);
    const copies = jest.spyOn(Float32Array.prototype, 'set');
    const copiesOfX = () => copies.mock.calls.filter(([source]) => source === x).length;

    try {
      // Execute
      const first = products(kernel, x, 40, 6, 2, 8);
      const copiedFirst = copiesOfX();
      const second = products(kernel, x, 40, 6, 2, 8);
      const copiedSecond = copiesOfX();
      x.fill(0);
      const afterChange = products(kernel, x, 40, 6, 2, 8);

      // Assert
      expect([copiedFirst, copiedSecond]).toEqual([1, 1]);
      expect(Array.from(first)).toEqual(Array.from(fresh(values(40 * 6, 23), 40, 6, 2, 8)));
      expect(Array.from(second)).toEqual(Array.from(first));
      expect(Array.from(afterChange)).toEqual(Array.from(first));
    } finally {
      copies.mockRestore();
    }
  });

  it('refuses forward() and backward() over more rows than the batch loaded, which would write past z', () => {
    // Prepare
    const kernel = kernelOf();
    kernel.load(values(40 * 6, 24), 40, 6, 2, 8);

    // Execute / Assert
    expect(() => kernel.forward(0, 9)).toThrow(RangeError);
    expect(() => kernel.backward(32, 41)).toThrow(RangeError);
    expect(() => kernel.forward(32, 40)).not.toThrow();
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
