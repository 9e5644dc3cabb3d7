import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { isKind } from '../errors.js';
import { httpGet } from './http-get.js';

test('httpGet follows redirects, names a bad status, and reports a refused connection as unavailable', async (t) => {
  const server = createServer((req, res) => {
    if (req.url === '/file') res.end('content');
    else if (req.url === '/moved') res.writeHead(302, { location: '/file' }).end();
    else if (req.url === '/loop') res.writeHead(301, { location: '/loop' }).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const read = async (url: string): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const c of await httpGet(url)) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };
  assert.equal(await read(`${base}/moved`), 'content');
  await assert.rejects(httpGet(`${base}/missing`), (err: Error) => isKind(err, 'invalid') && /HTTP 404/.test(err.message));
  await assert.rejects(httpGet(`${base}/loop`), /too many redirects/);
  await assert.rejects(httpGet('ftp://127.0.0.1/x'), /only http and https/);
  await assert.rejects(httpGet('http://127.0.0.1:1/x'), (err: Error) => isKind(err, 'unavailable'));
});
