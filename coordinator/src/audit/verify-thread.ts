/**
 * The body of the audit verification thread (audit-verifier.ts): opens the
 * store read-only, verifies it and posts the report. Loaded only as a worker.
 * Failures name the store "the store" (verifyStore's default): the REST answer
 * does not show the server's paths.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from '../storage/store.sqlite';
import { verifyStore } from './store-source';

const { file, anchorsFile } = workerData as { file: string; anchorsFile: string };
const store = new SqliteStore(file, { readonly: true });
try {
  parentPort!.postMessage(verifyStore(store, undefined, { anchorsFile }));
} finally {
  store.close();
}
