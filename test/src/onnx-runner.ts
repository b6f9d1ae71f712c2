/**
 * Runs an ONNX model with ONNX Runtime's WebAssembly package in a process of its
 * own (jest's module sandbox cannot load the runtime's WebAssembly loader): the
 * model file as the first argument, the inputs as JSON on standard input
 * (`{ name: { type: 'float32' | 'string', data, dims } }`, NaN written as null),
 * the output tensor's values as JSON on standard output.
 */
import * as fs from 'node:fs';
import * as ort from 'onnxruntime-web';

interface Feed {
  type: 'float32' | 'string';
  data: (number | string | null)[];
  dims: number[];
}

async function main(): Promise<void> {
  ort.env.wasm.numThreads = 1;
  const feeds = JSON.parse(fs.readFileSync(0, 'utf8')) as Record<string, Feed>;
  const session = await ort.InferenceSession.create(new Uint8Array(fs.readFileSync(process.argv[2])));
  const tensors: Record<string, ort.Tensor> = {};
  for (const [name, feed] of Object.entries(feeds)) {
    tensors[name] =
      feed.type === 'float32' ? new ort.Tensor('float32', Float32Array.from(feed.data, (v) => (v === null ? NaN : Number(v))), feed.dims) : new ort.Tensor('string', feed.data as string[], feed.dims);
  }
  const result = await session.run(tensors);
  process.stdout.write(JSON.stringify({ outputs: session.outputNames, output: Array.from(result[session.outputNames[0]].data as Float32Array) }));
  await session.release();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
