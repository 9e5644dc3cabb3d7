import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../errors.js';
import { applySettings, capabilityOf, defaultSettings, parseConfig } from './config.js';

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof EngineError && err.kind === 'invalid', String(err));
    return err.message;
  }
  assert.fail('no error');
}

describe("a plugin's config.json", () => {
  it("is read as dockerd reads it: names in any case, zero values for what is missing, unknown fields dropped", () => {
    const c = parseConfig(JSON.stringify({ entrypoint: ['/dummy'], NETWORK: { type: 'host' }, interface: { types: ['docker.volumedriver/1.0'], socket: 'd.sock' }, env: [{ name: 'DEBUG', settable: ['value'], value: '0' }], rootfs: { type: 'x' }, extra: 1 }));
    assert.deepEqual(c, {
      Description: '',
      Documentation: '',
      Interface: { Types: ['docker.volumedriver/1.0'], Socket: 'd.sock' },
      Entrypoint: ['/dummy'],
      WorkDir: '',
      User: {},
      Network: { Type: 'host' },
      Linux: { Capabilities: null, AllowAllDevices: false, Devices: null },
      PropagatedMount: '',
      IpcHost: false,
      PidHost: false,
      Mounts: null,
      Env: [{ Name: 'DEBUG', Description: '', Settable: ['value'], Value: '0' }],
      Args: { Name: '', Description: '', Settable: null, Value: null },
    });
    assert.equal(capabilityOf('docker.volumedriver/1.0'), 'volumedriver');
    assert.deepEqual(defaultSettings(c), { Mounts: [], Env: ['DEBUG=0'], Args: [], Devices: [] });
  });

  it('is refused when it is not JSON, not an object, or a field has the wrong type', () => {
    assert.match(refusal(() => parseConfig('{')), /^config.json is not JSON/);
    assert.match(refusal(() => parseConfig('[]')), /not a JSON object/);
    assert.match(refusal(() => parseConfig('{"Entrypoint":"/x"}')), /^config.json: Entrypoint: /);
    assert.match(refusal(() => parseConfig('{"Interface":{"Types":["volumedriver"]}}')), /Interface.Types.0: not of the form PREFIX.CAPABILITY\/VERSION/);
    assert.match(refusal(() => parseConfig('{"Interface":{"ProtocolScheme":"grpc"}}')), /Interface.ProtocolScheme/);
  });

  it('an env value left out is null, and not among the settings', () => {
    const c = parseConfig('{"Env":[{"Name":"A"},{"Name":"B","Value":""}]}');
    assert.equal(c.Env![0]!.Value, null);
    assert.deepEqual(defaultSettings(c).Env, ['B=']);
  });
});

describe('docker plugin set', () => {
  const config = parseConfig(
    JSON.stringify({
      Env: [
        { Name: 'DEBUG', Settable: ['value'], Value: '0' },
        { Name: 'FIXED', Value: 'x' },
      ],
      Args: { Name: 'args', Settable: ['value'], Value: ['-v'] },
      Mounts: [{ Name: 'state', Source: '/var/lib/x', Destination: '/state', Settable: ['source'] }],
      Linux: { Devices: [{ Name: 'fuse', Path: '/dev/fuse', Settable: ['path', 'other'] }] },
    }),
  );
  const start = defaultSettings(config);

  it('changes settable env values, args, mount sources and device paths', () => {
    const next = applySettings(config, start, ['DEBUG=1', 'args=-a -b', 'state=/srv', 'fuse.path=/dev/null']);
    assert.deepEqual(next.Env, ['DEBUG=1', 'FIXED=x']);
    assert.deepEqual(next.Args, ['-a', '-b']);
    assert.equal(next.Mounts![0]!.Source, '/srv');
    assert.equal(next.Devices![0]!.Path, '/dev/null');
    // The settings given are not changed.
    assert.deepEqual(start.Env, ['DEBUG=0', 'FIXED=x']);
    assert.equal(start.Mounts![0]!.Source, '/var/lib/x');
  });

  it("refuses with dockerd's messages what it cannot set", () => {
    assert.equal(refusal(() => applySettings(config, start, ['FIXED=y'])), '"FIXED" is not settable');
    assert.equal(refusal(() => applySettings(config, start, ['DEBUG.name=y'])), '"DEBUG.name" is not settable');
    assert.equal(refusal(() => applySettings(config, start, ['NOPE=1'])), 'setting "NOPE" not found in the plugin configuration');
    assert.equal(refusal(() => applySettings(config, start, ['=1'])), 'invalid format, must be <name>[.<field>][=<value>]');
    assert.equal(refusal(() => applySettings(config, start, ['fuse=/dev/null'])), 'multiple fields are settable, one must be specified');
  });
});
