/**
 * Serves the built dashboard (coordinator/dashboard/dist, made by `npm run build`)
 * at `/`: its files as they are, and index.html for every other page address
 * outside /api, /metrics and /socket.io, so that the app's own routes (/jobs/…) survive a
 * reload or a shared link.
 */
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Beside the coordinator's src/ and dist/ alike. */
const DASHBOARD_DIR = path.resolve(__dirname, '..', '..', 'dashboard', 'dist');

/**
 * The page loads only its own scripts and styles and talks only to its own
 * origin; recharts sets inline styles. No framing, no referrer.
 */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/** Returns false when the dashboard has not been built; the API is served either way. */
export function serveDashboard(app: NestExpressApplication): boolean {
  const index = path.join(DASHBOARD_DIR, 'index.html');
  if (!fs.existsSync(index)) return false;
  app.useStaticAssets(DASHBOARD_DIR, {
    index: false,
    // Vite names the files under assets/ by their content hash: they never change.
    setHeaders: (res, file) => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (file.includes(`${path.sep}assets${path.sep}`)) res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    },
  });
  app.use((req: Request, res: Response, next: NextFunction) => {
    const page = (req.method === 'GET' || req.method === 'HEAD') && !/^\/(api|metrics|socket\.io)(\/|$)/.test(req.path) && !path.extname(req.path);
    if (!page) return next();
    res.set(PAGE_HEADERS).sendFile(index);
  });
  return true;
}
