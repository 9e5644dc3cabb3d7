import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerSummary, EndpointSettings, ImageHistoryItem, ImageSummary } from '../client/types.js';
import {
  CONTAINER_HEADERS,
  containerFormat,
  containerRow,
  displayablePorts,
  eventRow,
  formatUsesSize,
  HISTORY_HEADERS,
  historyFormat,
  historyRow,
  IMAGE_HEADERS,
  imageFormat,
  imageRows,
} from './formatters.js';
import { renderList, tabwrite } from './table.js';

const NOW = Date.UTC(2026, 10, 27, 17, 48, 27);
const now = NOW / 1000;

// The daemon's answers that the expected tables below were printed from by Docker's own
// CLI (docker 28.2.2 against a stand-in daemon serving exactly this JSON).
const containers: ContainerSummary[] = [
  {
    Id: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2',
    Names: ['/web'],
    Image: 'nginx:latest',
    ImageID: 'sha256:1111111111111111111111111111111111111111111111111111111111111111',
    Command: "sh -c 'exit 3; echo long command here'",
    Created: now - 7200,
    State: 'running',
    Status: 'Up 2 hours',
    Ports: [
      { PrivatePort: 80, Type: 'tcp' },
      { IP: '0.0.0.0', PrivatePort: 443, PublicPort: 8443, Type: 'tcp' },
    ],
    Labels: { b: '2', a: '1' },
    SizeRw: 12345,
    SizeRootFs: 4260000,
    HostConfig: { NetworkMode: 'bridge' },
    // the table reads only the networks' names
    NetworkSettings: { Networks: { bridge: {} as EndpointSettings } },
    Mounts: [{ Type: 'volume', Name: '0123456789abcdef0123456789', Source: '/var/lib/x', Driver: 'local' }],
  },
  {
    Id: 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100',
    Names: ['/db'],
    Image: 'sha256:2222222222222222222222222222222222222222222222222222222222222222',
    ImageID: 'sha256:2222222222222222222222222222222222222222222222222222222222222222',
    Command: 'echo hi',
    Created: now - 65,
    State: 'exited',
    Status: 'Exited (0) About a minute ago',
    Ports: [],
    Labels: {},
    HostConfig: { NetworkMode: 'bridge' },
    NetworkSettings: { Networks: {} },
    Mounts: [],
  },
];

const images: ImageSummary[] = [
  {
    Id: 'sha256:1111111111111111111111111111111111111111111111111111111111111111',
    ParentId: '',
    RepoTags: ['nginx:latest', 'myreg.io:5000/foo/nginx:v1'],
    RepoDigests: ['nginx@sha256:3333333333333333333333333333333333333333333333333333333333333333'],
    Created: now - 3 * 86400,
    Size: 4261234,
    SharedSize: -1,
    Labels: {},
    Containers: -1,
  },
  { Id: 'sha256:2222222222222222222222222222222222222222222222222222222222222222', ParentId: '', RepoTags: [], RepoDigests: [], Created: now - 200 * 86400, Size: 999, SharedSize: -1, Labels: { x: 'y' }, Containers: 2 },
];

const history: ImageHistoryItem[] = [
  { Id: 'sha256:1111111111111111111111111111111111111111111111111111111111111111', Created: now - 3600 * 5, CreatedBy: '/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]', Tags: ['nginx:latest'], Size: 0, Comment: '' },
  { Id: '<missing>', Created: now - 86400 * 10, CreatedBy: '/bin/sh -c #(nop) ADD file:abcdef in / ', Tags: null, Size: 4261234, Comment: 'buildkit.dockerfile.v0' },
];

const ps = (opts: { format?: string; quiet?: boolean; size?: boolean; trunc?: boolean } = {}): string =>
  renderList({ format: containerFormat(opts.format, !!opts.quiet, !!opts.size), headers: CONTAINER_HEADERS }, containers.map((c) => containerRow(c, { trunc: opts.trunc ?? true, now: NOW })));

describe('tabwriter', () => {
  it('pads columns to the widest cell plus 3, at least 10, and leaves the last cell alone', () => {
    assert.equal(tabwrite('A\tBB\tC\nlonger-than-ten\tx\ty\n'), 'A                 BB        C\nlonger-than-ten   x         y\n');
  });

  it('counts runes, not bytes', () => {
    assert.equal(tabwrite('é…\tx\nab\ty\n'), 'é…        x\nab        y\n');
  });

  it('sizes a column over the block of lines that have it', () => {
    assert.equal(tabwrite('a\tb\nno tabs here at all\nccccccccccccc\td\n'), 'a         b\nno tabs here at all\nccccccccccccc   d\n');
  });
});

describe('ps', () => {
  it('prints the default table as Docker does', () => {
    assert.equal(
      ps(),
      [
        'CONTAINER ID   IMAGE          COMMAND                  CREATED              STATUS                          PORTS                           NAMES',
        `a1b2c3d4e5f6   nginx:latest   "sh -c 'exit 3; echo…"   2 hours ago          Up 2 hours                      80/tcp, 0.0.0.0:8443->443/tcp   web`,
        'ffeeddccbbaa   222222222222   "echo hi"                About a minute ago   Exited (0) About a minute ago                                   db',
        '',
      ].join('\n'),
    );
  });

  it('prints the header alone for no containers', () => {
    assert.equal(renderList({ format: containerFormat(undefined, false, false), headers: CONTAINER_HEADERS }, []), 'CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n');
  });

  it('--no-trunc shows full IDs, image references and commands', () => {
    const lines = ps({ trunc: false }).split('\n');
    assert.equal(
      lines[1],
      `a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2   nginx:latest                                                              "sh -c 'exit 3; echo long command here'"   2 hours ago          Up 2 hours                      80/tcp, 0.0.0.0:8443->443/tcp   web`,
    );
  });

  it('-s adds SIZE with the virtual size', () => {
    const lines = ps({ size: true }).split('\n');
    assert.ok(lines[0]!.endsWith('NAMES     SIZE'));
    assert.ok(lines[1]!.endsWith('web       12.3kB (virtual 4.26MB)'));
    assert.ok(lines[2]!.endsWith('db        0B'));
  });

  it('-q prints IDs only, even with --format', () => {
    assert.equal(ps({ quiet: true }), 'a1b2c3d4e5f6\nffeeddccbbaa\n');
    assert.equal(ps({ quiet: true, format: '{{.Names}}' }), 'a1b2c3d4e5f6\nffeeddccbbaa\n');
  });

  it('{{json .}} marshals every field, sorted, as Docker does', () => {
    const first = ps({ format: '{{json .}}' }).split('\n')[0]!;
    const created = new Date((now - 7200) * 1000);
    assert.equal(created.getTimezoneOffset(), 0, 'this expectation is written for a UTC machine');
    assert.equal(
      first,
      `{"Command":"\\"sh -c 'exit 3; echo…\\"","CreatedAt":"2026-11-27 15:48:27 +0000 UTC","ID":"a1b2c3d4e5f6","Image":"nginx:latest","Labels":"a=1,b=2","LocalVolumes":"1","Mounts":"0123456789abcd…","Names":"web","Networks":"bridge","Platform":null,"Ports":"80/tcp, 0.0.0.0:8443-\\u003e443/tcp","RunningFor":"2 hours ago","Size":"12.3kB (virtual 4.26MB)","State":"running","Status":"Up 2 hours"}`,
    );
  });

  it('custom tables take headers from the fields, and .Label from its argument', () => {
    assert.equal(
      ps({ format: 'table {{.ID}}\\t{{.Label "a"}}\\t{{upper .Names}}\\t{{json .Labels}}|{{.State}}' }),
      'CONTAINER ID   a         NAMES     LABELS|STATE\na1b2c3d4e5f6   1         WEB       "a=1,b=2"|running\nffeeddccbbaa             DB        ""|exited\n',
    );
    assert.equal(ps({ format: 'table {{.ID}}\\n{{.Names}}' }), 'CONTAINER ID\nNAMES\na1b2c3d4e5f6\nweb\nffeeddccbbaa\ndb\n');
    assert.equal(ps({ format: '{{.ID}}\\t{{.Names}}' }), 'a1b2c3d4e5f6\tweb\nffeeddccbbaa\tdb\n');
  });

  it('knows when a format needs sizes from the daemon', () => {
    assert.equal(formatUsesSize('{{.Size}}'), true);
    assert.equal(formatUsesSize('{{json .}}'), true);
    assert.equal(formatUsesSize('{{.Names}}'), false);
  });
});

describe('ports', () => {
  it('groups consecutive ports and lists host mappings last', () => {
    assert.equal(
      displayablePorts([
        { PrivatePort: 82, Type: 'tcp' },
        { PrivatePort: 80, Type: 'tcp' },
        { PrivatePort: 81, Type: 'tcp' },
        { PrivatePort: 53, Type: 'udp' },
        { IP: '0.0.0.0', PrivatePort: 9000, PublicPort: 9000, Type: 'tcp' },
        { IP: '0.0.0.0', PrivatePort: 9001, PublicPort: 9001, Type: 'tcp' },
        { IP: '::', PrivatePort: 443, PublicPort: 8443, Type: 'tcp' },
      ]),
      '53/udp, 80-82/tcp, 0.0.0.0:9000-9001->9000-9001/tcp, [::]:8443->443/tcp',
    );
    assert.equal(displayablePorts([]), '');
  });
});

describe('images', () => {
  const list = (opts: { format?: string; digests?: boolean; quiet?: boolean; trunc?: boolean } = {}): string => {
    const format = imageFormat(opts.format, !!opts.quiet, !!opts.digests);
    return renderList({ format, headers: IMAGE_HEADERS }, imageRows(images, { trunc: opts.trunc ?? true, digests: !!opts.digests, format, now: NOW }));
  };

  it('prints one row per repository and tag, <none> for dangling images', () => {
    assert.equal(
      list(),
      [
        'REPOSITORY                TAG       IMAGE ID       CREATED        SIZE',
        'nginx                     latest    111111111111   3 days ago     4.26MB',
        'myreg.io:5000/foo/nginx   v1        111111111111   3 days ago     4.26MB',
        '<none>                    <none>    222222222222   6 months ago   999B',
        '',
      ].join('\n'),
    );
  });

  it('--digests adds the DIGEST column', () => {
    assert.equal(
      list({ digests: true }).split('\n')[1],
      'nginx                     latest    sha256:3333333333333333333333333333333333333333333333333333333333333333   111111111111   3 days ago     4.26MB',
    );
  });

  it('{{json .}} and -q as Docker prints them', () => {
    assert.equal(list({ quiet: true }), '111111111111\n111111111111\n222222222222\n');
    const last = list({ format: 'json' }).split('\n')[2]!;
    assert.match(last, /^\{"Containers":"2","CreatedAt":"[^"]+","CreatedSince":"6 months ago","Digest":"\\u003cnone\\u003e","ID":"222222222222","Repository":"\\u003cnone\\u003e","SharedSize":"N\/A","Size":"999B","Tag":"\\u003cnone\\u003e","UniqueSize":"N\/A","VirtualSize":"999B"\}$/);
  });
});

describe('history', () => {
  it('human table with CREATED BY cut at 45 columns', () => {
    const rows = history.map((h) => historyRow(h, { trunc: true, human: true, now: NOW }));
    assert.equal(
      renderList({ format: historyFormat(undefined, false, true), headers: HISTORY_HEADERS }, rows),
      [
        'IMAGE          CREATED       CREATED BY                                      SIZE      COMMENT',
        '111111111111   5 hours ago   /bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon…   0B        ',
        '<missing>      10 days ago   /bin/sh -c #(nop) ADD file:abcdef in /          4.26MB    buildkit.dockerfile.v0',
        '',
      ].join('\n'),
    );
  });

  it('-H=false prints RFC 3339 times and byte counts', () => {
    const rows = history.map((h) => historyRow(h, { trunc: true, human: false, now: NOW }));
    const out = renderList({ format: historyFormat(undefined, false, false), headers: HISTORY_HEADERS }, rows).split('\n');
    assert.equal(out[0], 'IMAGE          CREATED AT             CREATED BY                                      SIZE      COMMENT');
    assert.match(out[2]!, /^<missing> {6}2026-11-17T17:48:27(Z|[+-]\d\d:\d\d) {3}\/bin\/sh -c #\(nop\) ADD file:abcdef in \/ {10}4261234 {3}buildkit\.dockerfile\.v0$/);
  });
});

describe('events', () => {
  it('templates see Go field names', () => {
    const row = eventRow({ Type: 'container', Action: 'start', Actor: { ID: 'abc', Attributes: { name: 'web' } }, scope: 'local', time: 1, timeNano: 1000000001, status: 'start', id: 'abc' });
    assert.equal(renderList({ format: '{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "name"}} {{.Status}} {{.Scope}}', headers: {} }, [row]), 'container start abc web start local\n');
  });
});
