#!/usr/bin/env node
/**
 * `fl-agent`: the command a partner runs on its own premises.
 *   fl-agent keygen --out key.json
 *   fl-agent run --coordinator URL --key key.json --data file.csv [--map mapping.json] [--coordinator-key KEY]
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { encodeKey, fingerprint, readKeyFile, writeKeyFile } from '@fl/shared';
import { ParticipantAgent } from './client/agent';
import { CoordinatorPins } from './client/pins';
import { loadMapping } from './data';
import {
  BACKEND_NAMES,
  selectBackend,
  TRAINING_ENGINES,
  trainingEngine,
  useTrainingEngine,
  type BackendName,
  type TrainingEngineName,
} from './train';

const HELP = `Usage:
  fl-agent keygen --out key.json
      Makes an Ed25519 key pair (file mode 0600) and prints the public key to register.
  fl-agent run --coordinator URL --key key.json --data file.csv [options]
      Connects to the coordinator and takes part in its jobs until stopped.
      --map mapping.json       renames local columns and category spellings to the job's
      --coordinator-key KEY    the coordinator's public key, compared out of band
                               (default: pinned at first contact in known-coordinators.json beside the key)
      --backend NAME           tensorflow, wasm or cpu (default: the first that loads) [FL_BACKEND]
      --engine NAME            tfjs (TF.js ops on that backend, the default) or kernel (the
                               WebAssembly SIMD training kernel, ~4x faster without tfjs-node) [FL_TRAINING_ENGINE]
`;

class UsageError extends Error {}

function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const options = {
    out: { type: 'string' },
    coordinator: { type: 'string' },
    key: { type: 'string' },
    data: { type: 'string' },
    map: { type: 'string' },
    'coordinator-key': { type: 'string' },
    backend: { type: 'string' },
    engine: { type: 'string' },
  } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: rest, options, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }

  if (command === 'keygen') {
    const pair = writeKeyFile(required(values, 'out'));
    process.stdout.write(`public key ${encodeKey(pair.publicKey)}\nfingerprint ${fingerprint(pair.publicKey)}\n`);
    return;
  }
  if (command !== 'run') throw new UsageError(`unknown command ${command}`);

  const keyFile = required(values, 'key');
  const backendName = (values.backend as string | undefined) ?? process.env.FL_BACKEND;
  if (backendName && !BACKEND_NAMES.includes(backendName as BackendName)) {
    throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}`);
  }
  const engineName = (values.engine as string | undefined) ?? process.env.FL_TRAINING_ENGINE;
  if (engineName && !TRAINING_ENGINES.includes(engineName as TrainingEngineName)) {
    throw new UsageError(`--engine must be one of ${TRAINING_ENGINES.join(', ')}`);
  }
  if (engineName) useTrainingEngine(engineName as TrainingEngineName);
  await selectBackend(backendName as BackendName | undefined);
  process.stderr.write(`fl-agent: training on ${await trainingEngine()}\n`);
  const agent = new ParticipantAgent({
    coordinatorUrl: required(values, 'coordinator'),
    keys: readKeyFile(keyFile),
    dataFile: required(values, 'data'),
    mapping: values.map ? loadMapping(values.map as string) : undefined,
    coordinatorKey: values['coordinator-key'] as string | undefined,
    pins: new CoordinatorPins(path.join(path.dirname(path.resolve(keyFile)), 'known-coordinators.json')),
  });
  agent.on('refused', (error: { code: string }) => {
    if (error.code === 'BAD_SIGNATURE' && !agent.socket.active) process.exitCode = 2;
  });
  const stop = () => {
    agent.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await agent.start();
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`fl-agent: ${err.message}\n${err instanceof UsageError ? `\n${HELP}` : ''}`);
  process.exit(err instanceof UsageError ? 64 : 1);
});
