/**
 * The body of the audit verification thread (audit-verifier.ts): opens the
 * store read-only, verifies it and posts the report. Loaded only as a worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteStore } from '../storage/store.sqlite';
import { verifyStore } from './store-source';

const { file, name } = workerData as { file: string; name: string };
const store = new SqliteStore(file, { readonly: true });
try {
  parentPort!.postMessage(verifyStore(store, name));
} finally {
  store.close();
}
