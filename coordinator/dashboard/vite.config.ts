/**
 * Builds the dashboard into dist/, which the coordinator serves at `/`.
 * `@fl/shared` resolves to its browser-safe entry, so the job form validates
 * with the API's own zod schema. `npm run dev -w @fl/dashboard` serves it with
 * hot reload against a coordinator (FL_COORDINATOR_URL, default port 8080).
 */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const coordinator = process.env.FL_COORDINATOR_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: [{ find: /^@fl\/shared$/, replacement: fileURLToPath(new URL('../../shared/src/browser.ts', import.meta.url)) }],
  },
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    proxy: {
      '/api': coordinator,
      '/socket.io': { target: coordinator, ws: true },
    },
  },
});
