import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMountFlag } from './mount-flag.js';

describe('--mount as the docker CLI reads it', () => {
  it('bind, volume and tmpfs entries with their options', () => {
    assert.deepEqual(parseMountFlag('type=bind,src=/h,dst=/c,readonly,bind-propagation=rshared,bind-nonrecursive'), {
      Type: 'bind', Source: '/h', Target: '/c', ReadOnly: true, BindOptions: { Propagation: 'rshared', NonRecursive: true },
    });
    assert.deepEqual(parseMountFlag('source=v,target=/v,volume-nocopy,volume-subpath=a/b,volume-label=k=v=w,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs'), {
      Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { NoCopy: true, Subpath: 'a/b', Labels: { k: 'v=w' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs' } } },
    });
    assert.deepEqual(parseMountFlag('type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1777,ro=false'), {
      Type: 'tmpfs', Target: '/t', ReadOnly: false, TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 },
    });
    assert.deepEqual(parseMountFlag('"type=bind","src=/a,b",dst=/c'), { Type: 'bind', Source: '/a,b', Target: '/c' });
  });

  it("refuses what the docker CLI refuses, with its messages", () => {
    const cases: Array<[string, string]> = [
      ['type=bind,src=/a', 'target is required'],
      ['type=bind,dst=/a,color=red', "unexpected key 'color' in 'color=red'"],
      ['type=bind,dst', "invalid field 'dst' must be a key=value pair"],
      ['type=tmpfs,dst=/a,volume-nocopy', "cannot mix 'volume-*' options with mount type 'tmpfs'"],
      ['type=volume,dst=/a,bind-propagation=shared', "cannot mix 'bind-*' options with mount type 'volume'"],
      ['type=bind,dst=/a,tmpfs-size=1m', "cannot mix 'tmpfs-*' options with mount type 'bind'"],
      ['type=tmpfs,dst=/a,tmpfs-mode=9', 'invalid value for tmpfs-mode: 9'],
      ['type=bind,dst=/a,readonly=maybe', 'invalid value for readonly: maybe'],
    ];
    for (const [flag, message] of cases) assert.throws(() => parseMountFlag(flag), { message }, flag);
  });
});
