/**
 * The inner loops of local training: per mini-batch, the products of the batch
 * rows with the weights (forward), the accumulation of the gradient Rᵀ·X
 * (backward), and the SGD step. Everything else (activations, residuals, loss,
 * shuffling) is O(batch x outputs) and stays in the trainer.
 *
 * Two implementations of one contract over one memory layout: WebAssembly with
 * 128-bit SIMD (simd-kernel.ts), and plain JS where WebAssembly SIMD is missing.
 * Both work in a single linear memory so the trainer's code is the same for both:
 *
 *   order  n x u32     the epoch's row order (shuffled in place by the trainer)
 *   w      k x d f32   weights, transposed: one contiguous row per output
 *   g      k x d f32   gradient accumulator, zeroed by step()
 *   z      batch x k   forward's output, overwritten by the trainer with residuals
 *   x      n x d f32   the features, copied in by load() unless already there
 */
import { simdKernel } from './simd-kernel';

/** The regions the trainer reads and writes; x is not among them, so that only load() writes it. */
export interface KernelLayout {
  order: Uint32Array;
  w: Float32Array;
  g: Float32Array;
  z: Float32Array;
}

export interface Kernel {
  readonly name: 'wasm-simd' | 'js';
  /**
   * Lays out a problem of n rows, d inputs, k outputs and batches up to `batch`
   * rows, and returns views on it. x is copied in unless it is the array object
   * this kernel copied last and the layout puts it at the same offset (as the same
   * n, d, k and batch do): a site trains and evaluates on the same prepared data
   * every round, and the copy was a few percent of a round. So x must not change
   * once loaded: a caller that rewrites its array in place must load a new one
   * (the agent's prepared data never changes).
   */
  load(x: Float32Array, n: number, d: number, k: number, batch: number): KernelLayout;
  /** z[(t - start) * k + c] = x[order[t]] · w[c], for t in [start, end), at most `batch` rows */
  forward(start: number, end: number): void;
  /** g[c] += z[(t - start) * k + c] · x[order[t]], for t in [start, end), at most `batch` rows */
  backward(start: number, end: number): void;
  /** w = w · decay − g · scale; then g = 0 */
  step(decay: number, scale: number): void;
}

/** Byte offsets of the regions, each 16-byte aligned for SIMD loads. */
export interface Offsets {
  order: number;
  w: number;
  g: number;
  z: number;
  x: number;
  end: number;
}

export function layoutOffsets(n: number, d: number, k: number, batch: number): Offsets {
  const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
  const order = 0;
  const w = align(order + n * 4);
  const g = align(w + k * d * 4);
  const z = align(g + k * d * 4);
  const x = align(z + batch * k * 4);
  return { order, w, g, z, x, end: x + n * d * 4 };
}

interface Views extends KernelLayout {
  x: Float32Array;
}

function layoutViews(buffer: ArrayBuffer, at: Offsets, n: number, d: number, k: number, batch: number): Views {
  return {
    order: new Uint32Array(buffer, at.order, n),
    w: new Float32Array(buffer, at.w, k * d),
    g: new Float32Array(buffer, at.g, k * d),
    z: new Float32Array(buffer, at.z, batch * k),
    x: new Float32Array(buffer, at.x, n * d),
  };
}

/** A loaded problem: what forward(), backward() and step() work on. */
export interface Loaded {
  at: Offsets;
  views: Views;
  n: number;
  d: number;
  k: number;
  batch: number;
}

/**
 * The memory of a kernel: load() for both implementations, over a buffer that
 * `reserve(bytes)` makes at least that long while keeping its contents, and the
 * loaded problem for the kernel's loops.
 */
export function kernelMemory(reserve: (bytes: number) => ArrayBuffer) {
  let loaded: Loaded | undefined;
  // What the x region holds. Only load() writes there (forward() and backward() are held to
  // `batch` rows, so z cannot run on into it), so the same array at the same offset of the same
  // buffer is still there. The offset, not the shape, is the key: the same array at the same
  // place is the same bytes, whatever n, d, k and batch put it there. The array is held weakly,
  // as the kernel holds its values already: a data set whose job has ended need not stay twice.
  let copied: { x: WeakRef<Float32Array>; buffer: ArrayBuffer; offset: number } | undefined;
  return {
    load(x: Float32Array, n: number, d: number, k: number, batch: number): Loaded {
      const at = layoutOffsets(n, d, k, batch);
      const buffer = reserve(at.end);
      const views = layoutViews(buffer, at, n, d, k, batch);
      if (copied?.x.deref() !== x || copied.buffer !== buffer || copied.offset !== at.x) {
        views.x.set(x);
        copied = { x: new WeakRef(x), buffer, offset: at.x };
      }
      views.g.fill(0);
      return (loaded = { at, views, n, d, k, batch });
    },
    /** The loaded problem, for step() or, given its rows, forward() and backward(). */
    loaded(start = 0, end = 0): Loaded {
      if (!loaded) throw new Error('kernel used before load()');
      if (!(start >= 0 && start <= end && end <= loaded.n && end - start <= loaded.batch)) {
        throw new RangeError(`rows [${start}, ${end}) are not a batch of the ${loaded.n} x ${loaded.batch} loaded`);
      }
      return loaded;
    },
  };
}

/** The plain-JS kernel: the reference the SIMD one is tested against, and the fallback. */
export function jsKernel(): Kernel {
  let buffer = new ArrayBuffer(0);
  // Kept across calls: a site trains on the same data every round.
  const memory = kernelMemory((bytes) => (buffer.byteLength < bytes ? (buffer = new ArrayBuffer(bytes)) : buffer));
  return {
    name: 'js',
    load: (x, n, d, k, batch) => memory.load(x, n, d, k, batch).views,
    forward(start, end) {
      const { views: { order, w, z, x }, d, k } = memory.loaded(start, end);
      for (let t = start; t < end; t++) {
        const row = order[t] * d;
        for (let c = 0; c < k; c++) {
          let sum = 0;
          for (let j = 0; j < d; j++) sum += x[row + j] * w[c * d + j];
          z[(t - start) * k + c] = sum;
        }
      }
    },
    backward(start, end) {
      const { views: { order, g, z, x }, d, k } = memory.loaded(start, end);
      for (let t = start; t < end; t++) {
        const row = order[t] * d;
        for (let c = 0; c < k; c++) {
          const r = z[(t - start) * k + c];
          if (r === 0) continue;
          for (let j = 0; j < d; j++) g[c * d + j] += r * x[row + j];
        }
      }
    },
    step(decay, scale) {
      const { w, g } = memory.loaded().views;
      for (let i = 0; i < w.length; i++) {
        w[i] = w[i] * decay - g[i] * scale;
        g[i] = 0;
      }
    },
  };
}

/** Writes parameters in the shared layout (W row-major d x k, then b) into the kernel's transposed w. */
export function writeWeights(w: Float32Array, params: Float32Array, d: number, k: number): void {
  for (let j = 0; j < d; j++) for (let c = 0; c < k; c++) w[c * d + j] = params[j * k + c];
}

/** Reads the kernel's transposed w back into parameters in the shared layout; the bias is the caller's. */
export function readWeights(w: Float32Array, params: Float32Array, d: number, k: number): void {
  for (let j = 0; j < d; j++) for (let c = 0; c < k; c++) params[j * k + c] = w[c * d + j];
}

const kernels: { training?: Kernel; evaluation?: Kernel } = {};

/**
 * A kernel for each use, so that an evaluation (synchronous) never overwrites
 * the memory of a training run paused between epochs, and each keeps its own
 * data loaded from round to round: WebAssembly SIMD where the runtime has it
 * (Node >= 16.4), else plain JS.
 */
export function kernelFor(use: 'training' | 'evaluation'): Kernel {
  return (kernels[use] ??= simdKernel() ?? jsKernel());
}
