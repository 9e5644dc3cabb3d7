import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../errors.js';
import { applyChanges, duration } from './changes.js';

void test('CMD and ENTRYPOINT: JSON form as given, shell form through /bin/sh -c', () => {
  const c = applyChanges({}, ['CMD ["/bin/echo", "hi there"]']);
  assert.deepEqual(c.Cmd, ['/bin/echo', 'hi there']);
  const s = applyChanges({}, ['CMD echo $HOME && ls']);
  assert.deepEqual(s.Cmd, ['/bin/sh', '-c', 'echo $HOME && ls']);
  const e = applyChanges({}, ['ENTRYPOINT /app --flag']);
  assert.deepEqual(e.Entrypoint, ['/bin/sh', '-c', '/app --flag']);
  // A malformed JSON array is shell form, as in a Dockerfile.
  assert.deepEqual(applyChanges({}, ['CMD [not json']).Cmd, ['/bin/sh', '-c', '[not json']);
});

void test('ENTRYPOINT resets an inherited CMD unless CMD is among the changes', () => {
  const base = { Cmd: ['sh'] };
  assert.equal(applyChanges(base, ['ENTRYPOINT ["/init"]']).Cmd, null);
  const both = applyChanges(base, ['CMD ["run"]', 'ENTRYPOINT ["/init"]']);
  assert.deepEqual(both.Cmd, ['run']);
  assert.deepEqual(both.Entrypoint, ['/init']);
  assert.deepEqual(base.Cmd, ['sh'], 'base config untouched');
});

void test('ENV: key=value pairs with quotes, legacy form, replacement and expansion', () => {
  const c = applyChanges({ Env: ['PATH=/usr/bin', 'A=old'] }, [
    'ENV A=new B="two words" C=\'single $A\'',
    'ENV D ${A}-legacy value',
    'ENV PATH=$PATH:/opt/bin E=${MISSING:-dflt} F=${A:+set}',
  ]);
  assert.deepEqual(c.Env, ['PATH=/usr/bin:/opt/bin', 'A=new', 'B=two words', 'C=single $A', 'D=new-legacy value', 'E=dflt', 'F=set']);
});

void test('LABEL, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL, ONBUILD', () => {
  const c = applyChanges({ WorkingDir: '/srv' }, [
    'LABEL a=1 "b c"="d e"',
    'EXPOSE 80 53/udp 8000-8002/tcp',
    'USER 1000:1000',
    'WORKDIR app',
    'WORKDIR ../data',
    'VOLUME ["/data", "/logs"]',
    'VOLUME /cache',
    'STOPSIGNAL SIGQUIT',
    'ONBUILD RUN echo built',
  ]);
  assert.deepEqual(c.Labels, { a: '1', 'b c': 'd e' });
  assert.deepEqual(Object.keys(c.ExposedPorts ?? {}), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
  assert.equal(c.User, '1000:1000');
  assert.equal(c.WorkingDir, '/srv/data');
  assert.deepEqual(Object.keys(c.Volumes ?? {}), ['/data', '/logs', '/cache']);
  assert.equal(c.StopSignal, 'SIGQUIT');
  assert.deepEqual(c.OnBuild, ['RUN echo built']);
});

void test('HEALTHCHECK options and forms', () => {
  const c = applyChanges({}, ['HEALTHCHECK --interval=30s --timeout=1m30s --retries=3 CMD curl -f http://localhost/']);
  assert.deepEqual(c.Healthcheck, { Interval: 30e9, Timeout: 90e9, Retries: 3, Test: ['CMD-SHELL', 'curl -f http://localhost/'] });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK CMD ["true"]']).Healthcheck, { Test: ['CMD', 'true'] });
  assert.deepEqual(applyChanges({}, ['HEALTHCHECK NONE']).Healthcheck, { Test: ['NONE'] });
  assert.equal(duration('500ms', 'x'), 500e6);
});

void test('line continuations and comments are handled as in a Dockerfile', () => {
  const c = applyChanges({}, ['# a comment\nENV A=1 \\\n  B=2']);
  assert.deepEqual(c.Env, ['A=1', 'B=2']);
});

void test('refused changes are invalid with Docker messages', () => {
  const cases: Array<[string, RegExp]> = [
    ['FROM busybox', /^from is not a valid change command$/],
    ['RUN echo', /^run is not a valid change command$/],
    ['EXPOSE 99999', /invalid range/],
    ['EXPOSE http', /invalid containerPort: http/],
    ['ENV', /ENV requires at least one argument/],
    ['ENV A=1 B', /can't find = in "B"/],
    ['STOPSIGNAL SIGNOPE', /invalid signal: SIGNOPE/],
    ['ONBUILD ONBUILD RUN x', /Chaining ONBUILD/],
    ['ENV A="unterminated', /double-quote/],
    ['HEALTHCHECK --interval=soon CMD true', /invalid duration/],
    ['USER a b', /exactly one argument/],
  ];
  for (const [change, message] of cases) {
    assert.throws(
      () => applyChanges({}, [change]),
      (err: unknown) => err instanceof EngineError && err.kind === 'invalid' && message.test(err.message),
      change,
    );
  }
});
