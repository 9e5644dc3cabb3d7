import * as http from 'node:http';
import * as https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { invalid, unavailable } from '../errors.js';

/**
 * GET `url` (http or https) through node:http, following up to `maxRedirects` redirects.
 * Resolves with the response of a 2xx status, its body unread; any other status is `invalid`
 * naming it, a connection failure `unavailable`. (Node's global fetch is not used: its HTTP
 * parser is WebAssembly, which pierd's V8 lite mode does not run.)
 */
export async function httpGet(url: string, opts: { maxRedirects?: number } = {}): Promise<IncomingMessage> {
  let current = new URL(url);
  for (let redirects = 0; ; redirects++) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') throw invalid(`${url}: only http and https URLs can be fetched`);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = (current.protocol === 'https:' ? https : http).get(current, resolve);
      req.on('error', (err) => reject(unavailable(`GET ${current.href}: ${err.message}`, err)));
    });
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    res.resume();
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
      if (redirects >= (opts.maxRedirects ?? 10)) throw invalid(`GET ${url}: too many redirects`);
      current = new URL(location, current);
      continue;
    }
    throw invalid(`GET ${current.href}: HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`);
  }
}
