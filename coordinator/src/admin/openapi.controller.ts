/**
 * The API's description, `GET /api/openapi.json`, its rendered reference,
 * `GET /api/docs` (Swagger UI, served from the swagger-ui-dist package), and the
 * job spec as JSON Schema, `GET /api/schemas/job.json`. All are public: they
 * describe the API and reveal no data.
 */
import { Controller, Get, Header } from '@nestjs/common';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jobSpecJsonSchema } from '@fl/shared';
import { Public } from '../users/admin.guard';
import { buildOpenApiDocument } from './openapi';

/** Where the Swagger UI files are served (see api-reference.ts). */
export const API_REFERENCE_ASSETS = '/api/docs/assets';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Coordinator API reference</title>
<link rel="stylesheet" href="${API_REFERENCE_ASSETS}/swagger-ui.css">
</head>
<body>
<div id="reference"></div>
<script src="${API_REFERENCE_ASSETS}/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
`;

/** A script of its own rather than an inline one, so that the page's policy can forbid inline scripts. */
const INIT = `window.ui = SwaggerUIBundle({ url: '/api/openapi.json', dom_id: '#reference', deepLinking: true });\n`;

const POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

@Controller('api')
@Public()
export class OpenApiController {
  private document: ReturnType<typeof buildOpenApiDocument> | undefined;
  private jobSpec: Record<string, unknown> | undefined;

  @Get('openapi.json')
  openapi() {
    return (this.document ??= buildOpenApiDocument(version()));
  }

  /** The same for every coordinator of a version, so caches may keep it; Express adds an ETag for revalidation. */
  @Get('schemas/job.json')
  @Header('Cache-Control', 'public, max-age=3600')
  jobSchema() {
    return (this.jobSpec ??= jobSpecJsonSchema());
  }

  @Get('docs')
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', POLICY)
  @Header('X-Content-Type-Options', 'nosniff')
  page(): string {
    return PAGE;
  }

  @Get('docs/init.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('X-Content-Type-Options', 'nosniff')
  init(): string {
    return INIT;
  }
}

/** The coordinator package's version, which versions its API; beside src/ and dist/ alike. */
function version(): string {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}
