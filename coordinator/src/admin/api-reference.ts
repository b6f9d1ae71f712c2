/** Serves Swagger UI's files, as the swagger-ui-dist package ships them, under /api/docs/assets. */
import type { NestExpressApplication } from '@nestjs/platform-express';
import * as path from 'node:path';
import { API_REFERENCE_ASSETS } from './openapi.controller';

export function serveApiReference(app: NestExpressApplication): void {
  const dir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  app.useStaticAssets(dir, {
    prefix: API_REFERENCE_ASSETS,
    index: false,
    setHeaders: (res) => res.setHeader('X-Content-Type-Options', 'nosniff'),
  });
}
