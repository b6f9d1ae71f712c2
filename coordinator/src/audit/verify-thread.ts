/**
 * The body of the audit verification thread (audit-verifier.ts): opens the
 * store read-only, verifies it and posts the report. Loaded only as a worker.
 * Failures name the store "the store" (verifyStore's default): the REST answer
 * does not show the server's paths.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openStore, type StoreLocation } from '../storage/open';
import { verifyStore } from './store-source';

const { location, anchorsFile } = workerData as { location: StoreLocation; anchorsFile: string };

async function main(): Promise<void> {
  const store = await openStore(location, { readonly: true });
  try {
    parentPort!.postMessage(await verifyStore(store, undefined, { anchorsFile }));
  } finally {
    await store.close();
  }
}

main().catch((err: unknown) => parentPort!.postMessage({ failed: err instanceof Error ? err.message : String(err) }));
