import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort } from './registry.js';
import { dockerCli, run, startDaemon, type Daemon } from './harness.js';

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl. */
function makeCerts(dir: string): void {
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=pier test CA', '-keyout', 'ca-key.pem', '-out', 'ca.pem']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, subj, ext] of [['server', '/CN=127.0.0.1', 'server.ext'], ['client', '/CN=pier client', 'client.ext']] as const) {
    ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`]);
    ssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${name}.pem`]);
  }
  // The docker CLI's names in DOCKER_CERT_PATH.
  writeFileSync(join(dir, 'cert.pem'), readFileSync(join(dir, 'client.pem')));
  writeFileSync(join(dir, 'key.pem'), readFileSync(join(dir, 'client-key.pem')));
}

/** The daemon's own surface: its socket's owner and mode, TCP only with verified TLS, bodies bounded. */
describe('the daemon\'s surface', () => {
  let certs: string;
  before(() => {
    certs = mkdtempSync('/tmp/pier-tls-');
    makeCerts(certs);
  });
  after(() => {
    rmSync(certs, { recursive: true, force: true });
  });

  test('the socket is 0660, owned by root and the pier group', async () => {
    const d = await startDaemon();
    try {
      const st = statSync(d.daemonSocket);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.uid, 0);
      const pier = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('pier:'));
      assert.ok(pier, 'the pier group exists');
      assert.equal(st.gid, Number(pier.split(':')[2]));
    } finally {
      await d.stop();
    }
  });

  test('TCP without TLS is refused at start, with how to do it right', async () => {
    const port = await freePort();
    await assert.rejects(startDaemon({ args: ['--host', `tcp://127.0.0.1:${port}`] }), /never listens on TCP without TLS and verified client certificates/);
  });

  test('TCP with --tlsverify serves the docker CLI with a client certificate, and no one without', async () => {
    const port = await freePort();
    const d: Daemon = await startDaemon({
      args: ['--host', `tcp://127.0.0.1:${port}`, '--tlsverify', '--tlscacert', join(certs, 'ca.pem'), '--tlscert', join(certs, 'server.pem'), '--tlskey', join(certs, 'server-key.pem')],
    });
    try {
      const env = { ...d.env, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs };
      const v = await run(dockerCli, ['version', '--format', '{{.Server.APIVersion}}'], env);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stdout, '1.51\n');
      // No client certificate: the TLS handshake fails.
      const anon = await run('curl', ['-sS', '--cacert', join(certs, 'ca.pem'), `https://127.0.0.1:${port}/_ping`], process.env);
      assert.notEqual(anon.code, 0);
      // Plain HTTP on the TLS port gets no API.
      const plain = await run('curl', ['-sS', '-m', '3', `http://127.0.0.1:${port}/_ping`], process.env);
      assert.notEqual(plain.stdout, 'OK');
    } finally {
      await d.stop();
    }
  });

  test('a 100 MB JSON body is a 400, and pierd keeps serving', async () => {
    const d = await startDaemon();
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ socketPath: d.socket, method: 'POST', path: '/v1.51/containers/create', headers: { 'Content-Type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', (err) => (String(err).includes('EPIPE') || String(err).includes('ECONNRESET') ? resolve(-1) : reject(err)));
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const pump = (): void => {
          while (sent < 100) {
            sent++;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      assert.ok(status === 400 || status === -1, `status ${status}`);
      const ping = await d.docker(['version', '--format', '{{.Server.Version}}']);
      assert.equal(ping.code, 0, ping.stderr);
    } finally {
      await d.stop();
    }
  });
});
