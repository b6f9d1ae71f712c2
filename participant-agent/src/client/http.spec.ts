import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { requestJson } from './http';

const TLS = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls');

type Handler = (request: http.IncomingMessage, body: string, response: http.ServerResponse) => void;

/** A loopback server that hands each request, with its whole body, to the test's handler. */
async function serve(handler: Handler, tls?: https.ServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const listener = (request: http.IncomingMessage, response: http.ServerResponse) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk));
    request.on('end', () => handler(request, body, response));
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const json = (response: http.ServerResponse, status: number, value: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(value));
};

describe('requestJson over http', () => {
  it('sends a JSON body with its headers and parses the JSON answer', async () => {
    const seen: { method?: string; url?: string; headers?: http.IncomingHttpHeaders; body?: string } = {};
    const server = await serve((request, body, response) => {
      Object.assign(seen, { method: request.method, url: request.url, headers: request.headers, body });
      json(response, 201, { id: 'job-1', echo: JSON.parse(body) });
    });
    try {
      const answer = await requestJson(`${server.url}/api/jobs?x=1`, {
        method: 'POST',
        body: { name: 'diagnosis', rounds: 2 },
        headers: { Authorization: 'Bearer token' },
      });
      expect(answer).toEqual({ status: 201, body: { id: 'job-1', echo: { name: 'diagnosis', rounds: 2 } } });
      expect(seen.method).toBe('POST');
      expect(seen.url).toBe('/api/jobs?x=1');
      expect(seen.headers).toMatchObject({ authorization: 'Bearer token', 'content-type': 'application/json', accept: 'application/json' });
      expect(seen.headers!['content-length']).toBe(String(Buffer.byteLength(seen.body!)));
    } finally {
      await server.close();
    }
  });

  it('returns an error status with its body instead of throwing, and null for an empty body', async () => {
    const server = await serve((request, _body, response) => {
      if (request.url === '/missing') return json(response, 404, { code: 'NOT_FOUND' });
      response.writeHead(204);
      response.end();
    });
    try {
      expect(await requestJson(`${server.url}/missing`, { method: 'GET' })).toEqual({ status: 404, body: { code: 'NOT_FOUND' } });
      expect(await requestJson(`${server.url}/empty`, { method: 'DELETE' })).toEqual({ status: 204, body: null });
    } finally {
      await server.close();
    }
  });

  it('sends no body and no content type for a GET', async () => {
    let headers: http.IncomingHttpHeaders = {};
    const server = await serve((request, body, response) => {
      headers = request.headers;
      json(response, 200, { body });
    });
    try {
      expect((await requestJson(server.url, { method: 'GET' })).body).toEqual({ body: '' });
      expect(headers['content-type']).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('throws a plain error for a body that is not JSON', async () => {
    const server = await serve((_request, _body, response) => {
      response.writeHead(502, { 'content-type': 'text/html' });
      response.end('<html><body>Bad Gateway</body></html>');
    });
    try {
      await expect(requestJson(`${server.url}/api/jobs`, { method: 'GET' })).rejects.toThrow(
        `GET ${server.url}/api/jobs: answered 502 with a body that is not JSON (text/html): <html><body>Bad Gateway</body></html>`,
      );
    } finally {
      await server.close();
    }
  });

  it('throws a plain error when nothing listens', async () => {
    const server = await serve(() => undefined);
    const { url } = server;
    await server.close();
    await expect(requestJson(`${url}/api/jobs`, { method: 'GET' })).rejects.toThrow(
      new RegExp(`^GET ${url}/api/jobs: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`),
    );
  });

  it('gives up after the timeout when no answer comes', async () => {
    const server = await serve(() => undefined); // never answers
    try {
      await expect(requestJson(`${server.url}/slow`, { method: 'GET', timeoutMs: 200 })).rejects.toThrow(`GET ${server.url}/slow: no answer in 200 ms`);
    } finally {
      await server.close();
    }
  });

  it('refuses an address that is neither http nor https', async () => {
    await expect(requestJson('ftp://127.0.0.1/x', { method: 'GET' })).rejects.toThrow('only http:// and https:// addresses are supported');
  });
});

describe('requestJson over https', () => {
  const tls = { cert: fs.readFileSync(`${TLS}/server.pem`), key: fs.readFileSync(`${TLS}/server-key.pem`) };
  const ca = fs.readFileSync(`${TLS}/ca.pem`);
  let server: Awaited<ReturnType<typeof serve>>;

  beforeAll(async () => {
    server = await serve((_request, _body, response) => json(response, 200, { secure: true }), tls);
  });
  afterAll(() => server?.close());

  it('trusts a certificate signed by the CA it is given, by IP and by name', async () => {
    expect(await requestJson(`${server.url}/`, { method: 'GET', ca })).toEqual({ status: 200, body: { secure: true } });
    const byName = server.url.replace('127.0.0.1', 'localhost');
    expect((await requestJson(`${byName}/`, { method: 'GET', ca: ca.toString('utf8') })).body).toEqual({ secure: true });
  });

  it('says in plain words that the certificate could not be verified, without the CA or with another', async () => {
    const untrusted = /the server's TLS certificate could not be verified: unable to verify the first certificate \(if a private CA signed it, trust that CA: fl-agent run --ca FILE\)$/;
    await expect(requestJson(`${server.url}/`, { method: 'GET' })).rejects.toThrow(untrusted);
    await expect(requestJson(`${server.url}/`, { method: 'GET', ca: fs.readFileSync(`${TLS}/other-ca.pem`) })).rejects.toThrow(untrusted);
  });

  it('says so when an https address reaches a server without TLS', async () => {
    const plain = await serve((_request, _body, response) => json(response, 200, {}));
    try {
      await expect(requestJson(`${plain.url.replace('http:', 'https:')}/`, { method: 'GET', ca })).rejects.toThrow(
        'the server does not speak TLS at this address (use http:// for a server without TLS)',
      );
    } finally {
      await plain.close();
    }
  });
});
