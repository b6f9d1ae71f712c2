import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './backend';
import { countRight, LOSSES, targetsOf, type GradientModelKind } from './losses';

beforeAll(async () => {
  await selectBackend('wasm');
});

/** Logits and targets of three rows for each kind, the targets as the loss takes them. */
const FIXTURES: Record<GradientModelKind, { k: number; z: number[]; t: number[] }> = {
  logistic: { k: 1, z: [-1.5, 0.25, 3], t: [0, 1, 1] },
  softmax: { k: 3, z: [0.2, -0.4, 1.1, 2, 0.5, -1, -0.3, -0.3, 0.6], t: [0, 0, 1, 1, 0, 0, 0, 1, 0] },
  linear: { k: 1, z: [0.5, -2, 1.25], t: [1, -1.5, 3] },
  // One-vs-rest over 3 classes: margins inside the hinge, beyond it, and on the wrong side.
  svm: { k: 3, z: [0.2, -0.4, 1.5, 2, 0.5, -1.3, -0.3, 0.95, 0.6], t: [0, 0, 1, 1, 0, 0, 0, 1, 0] },
};

function read(make: () => tf.Tensor): Float32Array {
  const tensor = tf.tidy(make);
  try {
    return tensor.dataSync() as Float32Array;
  } finally {
    tensor.dispose();
  }
}

describe.each(Object.keys(FIXTURES) as GradientModelKind[])('the %s loss', (kind) => {
  const { k, z, t } = FIXTURES[kind];
  const rows = (logits: number[]) => read(() => LOSSES[kind].rows(tf.tensor2d(logits, [3, k]), tf.tensor2d(t, [3, k])));

  it('has the gradient of its loss: each logit moved by ±h changes the row loss by the gradient x 2h', () => {
    // Prepare
    const h = 1e-2;

    // Execute
    const gradient = read(() => LOSSES[kind].gradient(tf.tensor2d(z, [3, k]), tf.tensor2d(t, [3, k])));

    // Assert: central differences, in float32, to about 1e-3.
    for (let j = 0; j < z.length; j++) {
      const up = rows(z.map((v, i) => (i === j ? v + h : v)));
      const down = rows(z.map((v, i) => (i === j ? v - h : v)));
      const row = Math.floor(j / k);
      expect(gradient[j]).toBeCloseTo((up[row] - down[row]) / (2 * h), 3);
    }
  });

  it('is what the hand-computed formula gives, row by row', () => {
    // Execute
    const loss = rows(z);

    // Assert
    const expected = Array.from({ length: 3 }, (_, i) => {
      const zi = z.slice(i * k, i * k + k);
      const ti = t.slice(i * k, i * k + k);
      if (kind === 'logistic') return -(ti[0] * Math.log(1 / (1 + Math.exp(-zi[0]))) + (1 - ti[0]) * Math.log(1 - 1 / (1 + Math.exp(-zi[0]))));
      if (kind === 'linear') return 0.5 * (zi[0] - ti[0]) ** 2;
      if (kind === 'svm') return zi.reduce((sum, v, c) => sum + Math.max(0, 1 - (2 * ti[c] - 1) * v) ** 2, 0);
      const logSum = Math.log(zi.reduce((sum, v) => sum + Math.exp(v), 0));
      return logSum - zi[ti.indexOf(1)];
    });
    expect(loss.length).toBe(3);
    expected.forEach((value, i) => expect(loss[i]).toBeCloseTo(value, 5));
  });
});

describe('targetsOf', () => {
  it('one-hot encodes softmax classes into the buffer it is given and passes other labels through', () => {
    // Prepare
    const labels = Float32Array.from([2, 0, 1, 1]);
    const buffer = new Float32Array(9).fill(7);

    // Execute
    const oneHot = targetsOf({ kind: 'softmax', inputDim: 1, outputDim: 3 }, labels, 1, 3, buffer);
    const plain = targetsOf({ kind: 'linear', inputDim: 1, outputDim: 1 }, labels, 1, 2);

    // Assert
    expect(Array.from(oneHot)).toEqual([1, 0, 0, 0, 1, 0, 0, 1, 0]);
    expect(Array.from(plain)).toEqual([0, 1]);
  });

  it('one-hot encodes the classes of a one-vs-rest svm, and passes a two-class svm\'s 0/1 labels through', () => {
    // Prepare
    const labels = Float32Array.from([2, 0, 1]);

    // Execute
    const oneHot = targetsOf({ kind: 'svm', inputDim: 1, outputDim: 3 }, labels, 0, 3, new Float32Array(9));
    const binary = targetsOf({ kind: 'svm', inputDim: 1, outputDim: 1 }, Float32Array.from([1, 0]), 0, 2);

    // Assert
    expect(Array.from(oneHot)).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
    expect(Array.from(binary)).toEqual([1, 0]);
  });
});

describe('countRight', () => {
  it('decides the class as shared does: z >= 0 is class 1, and the first of tied largest logits', () => {
    // Execute / Assert
    expect(countRight([0, -0.1, 2], Float32Array.from([1, 0, 0]), 0, 1)).toBe(2);
    expect(countRight([1, 1, 0, 0, 2, 2], Float32Array.from([9, 0, 2]), 1, 3)).toBe(1);
  });
});
