/**
 * Chooses the TF.js backend the agent trains on, once per process: native
 * TensorFlow (tfjs-node) when it is installed, else WebAssembly, else plain JS.
 *
 * tfjs-node is an optional dependency because its install script downloads a
 * native binary that air-gapped sites often cannot fetch; the wasm backend ships
 * its binaries inside the npm package, so it is the usual choice on-premises.
 * The caller decides any override (e.g. from an environment variable): this
 * module never reads process.env, so tests and the CLI control it the same way.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
// Registers the 'cpu' backend as the last-resort fallback.
import '@tensorflow/tfjs-backend-cpu';

export const BACKEND_NAMES = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

let selected: Promise<string> | undefined;

/**
 * Initialises a backend and returns the name of the one that runs. The first call
 * decides for the whole process (TF.js has one global engine, and the wasm module
 * cannot be re-pointed at other files once loaded); later calls return that
 * same name whatever they prefer.
 *
 * `preferred` is tried first; the others follow in the order native, wasm, cpu.
 */
export function selectBackend(preferred?: BackendName): Promise<string> {
  selected ??= initialise(preferred).catch((error: unknown) => {
    // A failed attempt must not stick: let a later call try again.
    selected = undefined;
    throw error;
  });
  return selected;
}

async function initialise(preferred?: BackendName): Promise<string> {
  const order: BackendName[] = preferred
    ? [preferred, ...BACKEND_NAMES.filter((name) => name !== preferred)]
    : [...BACKEND_NAMES];
  const failures: string[] = [];
  for (const name of order) {
    try {
      if (await tryBackend(name)) return tf.getBackend();
      failures.push(`${name}: not available`);
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised (${failures.join('; ')})`);
}

async function tryBackend(name: BackendName): Promise<boolean> {
  switch (name) {
    case 'tensorflow':
      if (!loadNative()) return false;
      break;
    case 'wasm':
      loadWasm();
      break;
    case 'cpu':
      break;
  }
  // setBackend resolves false (after logging) when the backend's init fails.
  if (!(await tf.setBackend(name))) return false;
  await tf.ready();
  return tf.getBackend() === name;
}

function loadNative(): boolean {
  try {
    // A plain require so that a missing optional dependency is a caught error
    // rather than a compile- or load-time one; importing it registers 'tensorflow'.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

let wasmPathsSet = false;

function loadWasm(): void {
  // Loaded lazily so that a process that gets the native backend never pays for
  // (or depends on) the wasm package.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  if (wasmPathsSet) return;
  // By default Emscripten looks for the .wasm files beside the script that loaded
  // them, which breaks once the agent is bundled or packaged; resolving them as
  // package files keeps working wherever node_modules is. Given a directory prefix
  // the backend still picks the plain or SIMD build itself (the threaded build
  // needs browser workers and is not used in Node).
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
  wasm.setWasmPaths(dir + path.sep);
  wasmPathsSet = true;
}
