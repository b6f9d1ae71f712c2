/**
 * The training kernel (kernel.ts) as a WebAssembly module with 128-bit SIMD,
 * assembled here from its instructions: six small functions do not justify a
 * compiler toolchain in the build, and the module is checked by the runtime's
 * validator and tested against the plain-JS kernel.
 *
 * Why not TF.js ops: on these models a step is a few small products, and TF.js
 * spends 10-70 µs dispatching each op (measured on its wasm backend), several
 * times the arithmetic itself; here a whole batch is one call.
 */
import { kernelMemory, type Kernel } from './kernel';

// Value types and the opcodes used below (WebAssembly core spec 2.0).
const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  if: [0x04, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, depth],
  brIf: (depth: number) => [0x0d, depth],
  call: (fn: number) => [0x10, fn],
  // Local indices are written as one byte: every function here has fewer than 128 locals.
  get: (local: number) => [0x20, local],
  set: (local: number) => [0x21, local],
  i32: (value: number) => [0x41, ...sleb128(value)],
  f32Zero: [0x43, 0, 0, 0, 0],
  i32Load: [0x28, 2, 0],
  f32Load: [0x2a, 2, 0],
  f32Store: [0x38, 2, 0],
  i32GeS: [0x4e],
  i32GeU: [0x4f],
  f32Ne: [0x5c],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32And: [0x71],
  i32Shl: [0x74],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  v128Load: (offset = 0) => [0xfd, 0x00, 0, offset],
  v128Store: (offset = 0) => [0xfd, 0x0b, 0, offset],
  f32x4Splat: [0xfd, 0x13],
  f32x4Lane: (lane: number) => [0xfd, 0x1f, lane],
  f32x4Add: [0xfd, 0xe4, 0x01],
  f32x4Sub: [0xfd, 0xe5, 0x01],
  f32x4Mul: [0xfd, 0xe6, 0x01],
};

function uleb128(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb128(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const vector = (items: number[][]) => [...uleb128(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb128(body.length), ...body];
const name = (text: string) => vector([...Buffer.from(text)].map((b) => [b]));

/** `for (; i < end; i += step) body`, with i and end locals, compared unsigned unless told. */
function forLoop(i: number, end: number, step: number, body: number[], atLeast = op.i32GeU): number[] {
  return [
    ...op.block,
    ...op.loop,
    ...op.get(i), ...op.get(end), ...atLeast, ...op.brIf(1),
    ...body,
    ...op.get(i), ...op.i32(step), ...op.i32Add, ...op.set(i),
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

/** a + b of two i32 locals, left on the stack */
const add = (a: number, b: number) => [...op.get(a), ...op.get(b), ...op.i32Add];
/** the sum of the four lanes of a v128 local, left on the stack as f32 */
const laneSum = (v: number) => [
  ...op.get(v), ...op.f32x4Lane(0), ...op.get(v), ...op.f32x4Lane(1), ...op.f32Add,
  ...op.get(v), ...op.f32x4Lane(2), ...op.f32Add, ...op.get(v), ...op.f32x4Lane(3), ...op.f32Add,
];
/** local = (n & mask) << 2: the byte length of n floats rounded down to a multiple of -mask */
const bytesOf = (n: number, mask: number, into: number) => [...op.get(n), ...op.i32(mask), ...op.i32And, ...op.i32(2), ...op.i32Shl, ...op.set(into)];

interface Fn {
  params: number[];
  results: number[];
  locals: number[];
  body: number[];
}

// dot(x, w, d) -> f32: x[0..d) · w[0..d), two 4-lane accumulators, then a scalar tail.
const dot: Fn = (() => {
  const [x, w, d, j, end, acc0, acc1, sum] = [0, 1, 2, 3, 4, 5, 6, 7];
  const madd = (acc: number, offset: number) => [
    ...op.get(acc),
    ...add(x, j), ...op.v128Load(offset),
    ...add(w, j), ...op.v128Load(offset),
    ...op.f32x4Mul, ...op.f32x4Add, ...op.set(acc),
  ];
  return {
    params: [I32, I32, I32],
    results: [F32],
    locals: [I32, I32, V128, V128, F32],
    body: [
      ...bytesOf(d, -8, end),
      ...forLoop(j, end, 32, [...madd(acc0, 0), ...madd(acc1, 16)]),
      ...op.get(acc0), ...op.get(acc1), ...op.f32x4Add, ...op.set(acc0),
      ...laneSum(acc0), ...op.set(sum),
      ...bytesOf(d, -1, end),
      ...forLoop(j, end, 4, [...op.get(sum), ...add(x, j), ...op.f32Load, ...add(w, j), ...op.f32Load, ...op.f32Mul, ...op.f32Add, ...op.set(sum)]),
      ...op.get(sum),
    ],
  };
})();

// axpy(g, a, x, d): g[0..d) += a · x[0..d).
const axpy: Fn = (() => {
  const [g, a, x, d, j, end, va] = [0, 1, 2, 3, 4, 5, 6];
  const madd = (offset: number) => [
    ...add(g, j),
    ...add(g, j), ...op.v128Load(offset),
    ...op.get(va), ...add(x, j), ...op.v128Load(offset), ...op.f32x4Mul,
    ...op.f32x4Add, ...op.v128Store(offset),
  ];
  return {
    params: [I32, F32, I32, I32],
    results: [],
    locals: [I32, I32, V128],
    body: [
      ...op.get(a), ...op.f32x4Splat, ...op.set(va),
      ...bytesOf(d, -8, end),
      ...forLoop(j, end, 32, [...madd(0), ...madd(16)]),
      ...bytesOf(d, -1, end),
      ...forLoop(j, end, 4, [...add(g, j), ...add(g, j), ...op.f32Load, ...op.get(a), ...add(x, j), ...op.f32Load, ...op.f32Mul, ...op.f32Add, ...op.f32Store]),
    ],
  };
})();

/** Rows that forward() takes at a time; see dotGroup. Eight measured no better than four in training. */
const GROUP = 4;

// dotGroup(x0 .. x{GROUP-1}, w, d, out, stride): out[i · stride] = xi · w for GROUP rows at once.
// Shuffled rows of a data set larger than the caches are each a few cache and TLB misses; several
// rows keep several streams of misses in flight where one row at a time leaves the memory idle
// between them. On 100k x 100 in shuffled order an epoch's forward pass measured ~10 ms with four
// rows, against ~16 with dot().
const dotGroup: Fn = (() => {
  const rows = Array.from({ length: GROUP }, (_, i) => i);
  const [w, d, out, stride] = [GROUP, GROUP + 1, GROUP + 2, GROUP + 3];
  const [j, end, wv] = [GROUP + 4, GROUP + 5, GROUP + 6];
  const acc = rows.map((i) => GROUP + 7 + i);
  const sums = rows.map((i) => 2 * GROUP + 7 + i);
  return {
    params: [...rows.map(() => I32), I32, I32, I32, I32],
    results: [],
    locals: [I32, I32, V128, ...rows.map(() => V128), ...rows.map(() => F32)],
    body: [
      ...bytesOf(d, -4, end),
      ...forLoop(j, end, 16, [
        ...add(w, j), ...op.v128Load(), ...op.set(wv),
        ...rows.flatMap((x, i) => [...op.get(acc[i]), ...add(x, j), ...op.v128Load(), ...op.get(wv), ...op.f32x4Mul, ...op.f32x4Add, ...op.set(acc[i])]),
      ]),
      ...rows.flatMap((_, i) => [...laneSum(acc[i]), ...op.set(sums[i])]),
      ...bytesOf(d, -1, end),
      ...forLoop(j, end, 4, rows.flatMap((x, i) => [...op.get(sums[i]), ...add(x, j), ...op.f32Load, ...add(w, j), ...op.f32Load, ...op.f32Mul, ...op.f32Add, ...op.set(sums[i])])),
      ...rows.flatMap((_, i) => [...op.get(out), ...op.get(sums[i]), ...op.f32Store, ...op.get(out), ...op.get(stride), ...op.i32Add, ...op.set(out)]),
    ],
  };
})();

// Indices of the functions the others call, in the order assemble() lists them.
const DOT = 0;
const AXPY = 1;
const DOT_GROUP = 2;

// The locals of forward and backward: parameters order, start, end, x, d, w (or g), k, z, then these.
const [ORDER, START, END, X, D, WG, K, Z] = [0, 1, 2, 3, 4, 5, 6, 7];
const [T, X_ROW, C, AT, ROW_BYTES, END_GROUP, K_BYTES, Z_AT, R0] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
const ROW_LOOP_PARAMS = [I32, I32, I32, I32, I32, I32, I32, I32];
const ROW_LOOP_LOCALS = Array.from({ length: R0 - T + GROUP }, () => I32);

/** The address of row order[t + i]: x + order[t + i] · rowBytes. */
const rowAddress = (i: number) => [
  ...op.get(X), ...op.get(ORDER), ...op.get(T), ...op.i32(i), ...op.i32Add, ...op.i32(2), ...op.i32Shl, ...op.i32Add,
  ...op.i32Load, ...op.get(ROW_BYTES), ...op.i32Mul, ...op.i32Add,
];

/** Rows t..end one at a time, and for each the k outputs: `perOutput` sees the row, the output's w (or g) row and z slot. */
function singleRows(perOutput: number[]): number[] {
  return forLoop(T, END, 1, [
    ...rowAddress(0), ...op.set(X_ROW),
    ...op.get(WG), ...op.set(AT),
    ...op.i32(0), ...op.set(C),
    ...forLoop(C, K, 1, [
      ...perOutput,
      ...op.get(Z), ...op.i32(4), ...op.i32Add, ...op.set(Z),
      ...op.get(AT), ...op.get(ROW_BYTES), ...op.i32Add, ...op.set(AT),
    ]),
  ]);
}

const setup = [...op.get(D), ...op.i32(2), ...op.i32Shl, ...op.set(ROW_BYTES), ...op.get(START), ...op.set(T)];

/**
 * forward(order, start, end, x, d, w, k, z): z[.] = x row · w row; rows GROUP at
 * a time with dotGroup() while that many are left, then one at a time with dot().
 */
const forward: Fn = (() => {
  const rows = Array.from({ length: GROUP }, (_, i) => R0 + i);
  return {
    params: ROW_LOOP_PARAMS,
    results: [],
    locals: ROW_LOOP_LOCALS,
    body: [
      ...setup,
      ...op.get(K), ...op.i32(2), ...op.i32Shl, ...op.set(K_BYTES),
      ...op.get(END), ...op.i32(GROUP - 1), ...op.i32Sub, ...op.set(END_GROUP),
      // Compared signed, so that a batch of fewer than GROUP rows (end - GROUP + 1 < start) runs no group.
      ...forLoop(T, END_GROUP, GROUP, [
        ...rows.flatMap((r, i) => [...rowAddress(i), ...op.set(r)]),
        ...op.get(WG), ...op.set(AT),
        ...op.get(Z), ...op.set(Z_AT),
        ...op.i32(0), ...op.set(C),
        ...forLoop(C, K, 1, [
          ...rows.flatMap((r) => op.get(r)), ...op.get(AT), ...op.get(D), ...op.get(Z_AT), ...op.get(K_BYTES), ...op.call(DOT_GROUP),
          ...op.get(Z_AT), ...op.i32(4), ...op.i32Add, ...op.set(Z_AT),
          ...op.get(AT), ...op.get(ROW_BYTES), ...op.i32Add, ...op.set(AT),
        ]),
        ...op.get(Z), ...op.get(K_BYTES), ...op.i32(GROUP), ...op.i32Mul, ...op.i32Add, ...op.set(Z),
      ], op.i32GeS),
      ...singleRows([...op.get(Z), ...op.get(X_ROW), ...op.get(AT), ...op.get(D), ...op.call(DOT), ...op.f32Store]),
    ],
  };
})();

/** backward(order, start, end, x, d, g, k, z): g row += z[.] · x row, skipping zero residuals. */
const backward: Fn = {
  params: ROW_LOOP_PARAMS,
  results: [],
  locals: ROW_LOOP_LOCALS,
  body: [
    ...setup,
    ...singleRows([
      ...op.get(Z), ...op.f32Load, ...op.f32Zero, ...op.f32Ne,
      ...op.if,
      ...op.get(AT), ...op.get(Z), ...op.f32Load, ...op.get(X_ROW), ...op.get(D), ...op.call(AXPY),
      ...op.end,
    ]),
  ],
};

// step(w, g, len, decay, scale): w = w · decay − g · scale; g = 0.
const step: Fn = (() => {
  const [w, g, len, decay, scale, j, end, vd, vs, zero] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  return {
    params: [I32, I32, I32, F32, F32],
    results: [],
    locals: [I32, I32, V128, V128, V128],
    body: [
      ...op.get(decay), ...op.f32x4Splat, ...op.set(vd),
      ...op.get(scale), ...op.f32x4Splat, ...op.set(vs),
      ...bytesOf(len, -4, end),
      ...forLoop(j, end, 16, [
        ...add(w, j),
        ...add(w, j), ...op.v128Load(), ...op.get(vd), ...op.f32x4Mul,
        ...add(g, j), ...op.v128Load(), ...op.get(vs), ...op.f32x4Mul,
        ...op.f32x4Sub, ...op.v128Store(),
        ...add(g, j), ...op.get(zero), ...op.v128Store(),
      ]),
      ...bytesOf(len, -1, end),
      ...forLoop(j, end, 4, [
        ...add(w, j),
        ...add(w, j), ...op.f32Load, ...op.get(decay), ...op.f32Mul,
        ...add(g, j), ...op.f32Load, ...op.get(scale), ...op.f32Mul,
        ...op.f32Sub, ...op.f32Store,
        ...add(g, j), ...op.f32Zero, ...op.f32Store,
      ]),
    ],
  };
})();

/** The module's bytes: dot, axpy and dotGroup (internal), forward, backward and step, and the memory (exported). */
export function assemble(): Uint8Array {
  const functions = [dot, axpy, dotGroup, forward, backward, step];
  const exports: [string, number, number][] = [
    ['memory', 0x02, 0],
    ['forward', 0x00, functions.indexOf(forward)],
    ['backward', 0x00, functions.indexOf(backward)],
    ['step', 0x00, functions.indexOf(step)],
  ];
  const localDecls = (locals: number[]) => vector(locals.map((type) => [1, type]));
  const bodies = functions.map((f) => {
    const code = [...localDecls(f.locals), ...f.body, ...op.end];
    return [...uleb128(code.length), ...code];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(functions.map((f) => [0x60, ...vector(f.params.map((p) => [p])), ...vector(f.results.map((r) => [r]))]))),
    ...section(3, vector(functions.map((_, i) => uleb128(i)))),
    // One memory of 1 page (64 KiB) to start, grown by load().
    ...section(5, vector([[0x00, 1]])),
    ...section(7, vector(exports.map(([n, kind, index]) => [...name(n), kind, ...uleb128(index)]))),
    ...section(10, vector(bodies)),
  ]);
}

/** The part of the WebAssembly API used here: the project compiles without the DOM library that declares it. */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

interface Exports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  forward(order: number, start: number, end: number, x: number, d: number, w: number, k: number, z: number): void;
  backward(order: number, start: number, end: number, x: number, d: number, g: number, k: number, z: number): void;
  step(w: number, g: number, len: number, decay: number, scale: number): void;
}

/** The SIMD kernel, or undefined when the runtime cannot compile WebAssembly SIMD. */
export function simdKernel(): Kernel | undefined {
  const bytes = assemble();
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) return undefined;
  const wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
  // The memory is kept across calls and only grows: a site trains on the same data every round.
  const memory = kernelMemory((bytes) => {
    const missing = bytes - wasm.memory.buffer.byteLength;
    if (missing > 0) wasm.memory.grow(Math.ceil(missing / 65536));
    return wasm.memory.buffer;
  });
  return {
    name: 'wasm-simd',
    load: (x, n, d, k, batch) => memory.load(x, n, d, k, batch).views,
    forward(start, end) {
      const { at, d, k } = memory.loaded(start, end);
      wasm.forward(at.order, start, end, at.x, d, at.w, k, at.z);
    },
    backward(start, end) {
      const { at, d, k } = memory.loaded(start, end);
      wasm.backward(at.order, start, end, at.x, d, at.g, k, at.z);
    },
    step(decay, scale) {
      const { at, d, k } = memory.loaded();
      wasm.step(at.w, at.g, k * d, decay, scale);
    },
  };
}
