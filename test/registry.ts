/**
 * Debian's docker-registry (distribution 2.8) on 127.0.0.1 and a free port, for the
 * distribution tests: anonymous, with Basic auth (an htpasswd file made by apache2-utils'
 * htpasswd) or with token auth (a small token issuer in this process, RS256 JWTs whose
 * certificate openssl made). `stop()` kills the registry by its pid and removes its
 * temporary directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createSign, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from './harness.js';

export interface Registry {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  readonly dir: string;
  /** Requests the token issuer answered (token auth only). */
  readonly tokenRequests: string[];
  stop(): Promise<void>;
}

export interface RegistryOptions {
  auth?: 'basic' | 'token';
  user?: string;
  password?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = await mkdtemp('/tmp/preg-');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const user = opts.user ?? 'tester';
  const password = opts.password ?? 'secret-pw';
  let child: ChildProcess | undefined;
  let issuer: Server | undefined;
  const tokenRequests: string[] = [];
  const stop = async (): Promise<void> => {
    if (child?.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (issuer) await new Promise((r) => issuer!.close(r));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    let auth = '';
    if (opts.auth === 'basic') {
      const r = await run('htpasswd', ['-Bbn', user, password], process.env);
      if (r.code !== 0) throw new Error(`htpasswd: ${r.stderr}`);
      await writeFile(join(dir, 'htpasswd'), r.stdout);
      auth = `auth:\n  htpasswd:\n    realm: pier-test\n    path: ${join(dir, 'htpasswd')}\n`;
    } else if (opts.auth === 'token') {
      const r = await run(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=pier-test-issuer'],
        process.env,
      );
      if (r.code !== 0) throw new Error(`openssl: ${r.stderr}`);
      const tokenPort = await freePort();
      issuer = await startIssuer(tokenPort, await readFile(join(dir, 'key.pem'), 'utf8'), await readFile(join(dir, 'cert.pem'), 'utf8'), user, password, tokenRequests);
      auth = `auth:\n  token:\n    realm: http://127.0.0.1:${tokenPort}/token\n    service: pier-test-registry\n    issuer: pier-test-issuer\n    rootcertbundle: ${join(dir, 'cert.pem')}\n`;
    }
    const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
http:
  addr: ${host}
  secret: ${randomBytes(8).toString('hex')}
${auth}`;
    await writeFile(join(dir, 'config.yml'), config);
    child = spawn('/usr/bin/docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      if (stderr.length < 20000) stderr += c.toString();
    });
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
      try {
        const res = await fetch(`http://${host}/v2/`);
        await res.arrayBuffer();
        break;
      } catch {
        if (i > 100) throw new Error(`docker-registry did not answer on ${host}: ${stderr}`);
        await sleep(100);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, dir, tokenRequests, stop };
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** A token issuer for distribution's token auth: Basic credentials in, an RS256 JWT out. */
async function startIssuer(port: number, keyPem: string, certPem: string, user: string, password: string, requests: string[]): Promise<Server> {
  const key = createPrivateKey(keyPem);
  const der = new X509Certificate(certPem).raw;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    requests.push(url.search);
    const authz = req.headers.authorization ?? '';
    let subject = '';
    if (authz.startsWith('Basic ')) {
      const [u, p] = Buffer.from(authz.slice(6), 'base64').toString().split(':');
      if (u !== user || p !== password) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      subject = u;
    }
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      if (type !== 'repository' || !name || !actions) return [];
      // Anonymous users may pull only; the user may pull and push.
      const allowed = actions.split(',').filter((a) => subject !== '' || a === 'pull');
      return subject === '' ? [] : [{ type, name, actions: allowed }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = { iss: 'pier-test-issuer', sub: subject, aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(key);
    const token = `${signing}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}
