import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from './backend';

function nativeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

describe('selectBackend', () => {
  it('falls back from the missing native backend to wasm, and computes with it', async () => {
    // Prepare: the native package is optional and absent on this machine.
    const expected = nativeInstalled() ? 'tensorflow' : 'wasm';

    // Execute
    const name = await selectBackend();

    // Assert
    expect(name).toBe(expected);
    expect(tf.getBackend()).toBe(expected);
    expect(Array.from(tf.tidy(() => tf.matMul(tf.tensor2d([1, 2], [1, 2]), tf.tensor2d([3, 4], [2, 1])).dataSync()))).toEqual([11]);
  });

  it('decides once per process: later calls return the same backend whatever they prefer', async () => {
    // Prepare
    const first = await selectBackend();

    // Execute
    const again = await Promise.all([selectBackend('cpu'), selectBackend('wasm')]);

    // Assert
    expect(again).toEqual([first, first]);
    expect(tf.getBackend()).toBe(first);
  });

  it('honours the preference of the first call', async () => {
    // Prepare: a fresh copy of the module, as in a new process, sharing this file's
    // TF.js so that its kernels are not registered twice.
    let isolated: typeof import('./backend') | undefined;
    jest.isolateModules(() => {
      jest.doMock('@tensorflow/tfjs-core', () => tf);
      jest.doMock('@tensorflow/tfjs-backend-cpu', () => ({}));
      isolated = jest.requireActual<typeof import('./backend')>('./backend');
    });
    jest.dontMock('@tensorflow/tfjs-core');
    jest.dontMock('@tensorflow/tfjs-backend-cpu');

    // Execute
    const name = await isolated!.selectBackend('cpu');

    // Assert
    expect(name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });
});
