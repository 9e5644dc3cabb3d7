import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { goStruct } from '../table.js';
import { FUNCS, HEADER_FUNCS, parseTemplate, TemplateError } from './template.js';

const render = (src: string, data: unknown): string => parseTemplate(src).execute(data);

// A row like Docker's ContainerContext: methods, one of them taking an argument.
const row = goStruct('*formatter.ContainerContext', {
  ID: () => 'a1b2c3d4e5f6',
  Names: () => 'web',
  State: () => 'running',
  Labels: () => 'a=1,b=2',
  Size: () => '12.3kB (virtual 4.26MB)',
  Command: () => `"sh -c 'exit 3; echo…"`,
  Label: (name: string) => ({ a: '1' })[name] ?? '',
});

// What `docker inspect` hands a template: the daemon's JSON.
const inspected = {
  Id: 'abc',
  State: { Status: 'running', Pid: 1234, Running: true, ExitCode: 0 },
  Config: { Cmd: ['sh', '-c', 'echo <hi>'], Labels: { b: '2', a: '1' }, Env: null, Tty: false },
  Mounts: [],
  NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.2' } } },
};

describe('template: fields', () => {
  it('reads fields, nested fields and methods', () => {
    assert.equal(render('{{.ID}} {{.Names}}', row), 'a1b2c3d4e5f6 web');
    assert.equal(render('{{.State.Status}}/{{.State.Pid}}', inspected), 'running/1234');
    assert.equal(render('{{.Label "a"}}|{{.Label "zz"}}', row), '1|');
  });

  it('prints a missing map key as <no value> and null as <nil>', () => {
    assert.equal(render('{{.Nope}}', inspected), '<no value>');
    assert.equal(render('{{.Config.Env}}', inspected), '<nil>');
  });

  it('prints slices and maps as Go does', () => {
    assert.equal(render('{{.Config.Cmd}}', inspected), '[sh -c echo <hi>]');
    assert.equal(render('{{.Config.Labels}}', inspected), 'map[a:1 b:2]');
    assert.equal(render('{{.Mounts}}', inspected), '[]');
  });

  it('fails on a field a struct does not have, in Go words', () => {
    assert.throws(() => render('{{.Foo}}', row), {
      message: 'template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.ContainerContext',
    });
  });

  it('reads through variables and parenthesized pipelines', () => {
    assert.equal(render('{{$x := .Names}}{{$x}}', row), 'web');
    assert.equal(render('{{$.ID}}', row), 'a1b2c3d4e5f6');
    assert.equal(render('{{(index .A 0).B}}', { A: [{ B: 'deep' }] }), 'deep');
    assert.equal(render('{{$n := .NetworkSettings}}{{$n.Networks.bridge.IPAddress}}', inspected), '172.17.0.2');
  });
});

describe('template: functions', () => {
  it('json: maps keep their order, struct rows marshal sorted with Go escaping', () => {
    assert.equal(render('{{json .Config}}', inspected), '{"Cmd":["sh","-c","echo <hi>"],"Labels":{"b":"2","a":"1"},"Env":null,"Tty":false}');
    const r = goStruct('*formatter.ContainerContext', { Ports: () => '0.0.0.0:80->80/tcp', ID: () => 'x', Label: (_n: string) => '' });
    assert.equal(render('{{json .}}', r), '{"ID":"x","Ports":"0.0.0.0:80-\\u003e80/tcp"}');
    assert.equal(render('{{json .Nope}}', inspected), 'null');
  });

  it('docker functions: split, join, title, lower, upper, pad, truncate', () => {
    assert.equal(render('{{split .Labels ","}}', row), '[a=1 b=2]');
    assert.equal(render('{{join (split .Labels ",") "+"}}', row), 'a=1+b=2');
    assert.equal(render('{{title .State}} {{upper .State}} {{lower "ABC"}}', row), 'Running RUNNING abc');
    assert.equal(render('{{pad .State 2 1}}|', row), '  running |');
    assert.equal(render('{{truncate .ID 4}}', row), 'a1b2');
    assert.equal(render('{{split "" ","}}', {}), '[]');
  });

  it('go functions: len, index, and, or, not, eq, ne, lt, gt', () => {
    assert.equal(render('{{.Command | len}}', row), '24');
    assert.equal(render('{{len .Config.Cmd}}', inspected), '3');
    assert.equal(render('{{index .Config.Labels "a"}}|{{index .Config.Cmd 1}}', inspected), '1|-c');
    assert.equal(render('{{or "" "dflt"}}|{{and 1 0}}|{{not true}}', {}), 'dflt|0|false');
    assert.equal(render('{{eq .State "running" "exited"}} {{ne .State "running"}}', row), 'true false');
    assert.equal(render('{{lt 1 2}} {{gt "b" "a"}} {{le 2 2}} {{ge 1 2}}', {}), 'true true true false');
    assert.throws(() => render('{{index .Config.Cmd 5}}', inspected), /error calling index: index out of range: 5/);
  });

  it('print, println and printf with widths and verbs', () => {
    assert.equal(render('{{print 1 2 "a" "b" 3}}', {}), '1 2ab3');
    assert.equal(render('{{println "x"}}', {}), 'x\n');
    assert.equal(
      render('{{printf "%v %s %d %t %x %5s|%-5s|%05d %.3s %c %q %%" .State (split "a,b" ",") 7 true 255 "ab" "cd" 42 "abcdef" 65 "a\\"b"}}', row),
      'running [a b] 7 true ff    ab|cd   |00042 abc A "a\\"b" %',
    );
    assert.equal(render('{{printf "%d"}}', {}), '%!d(MISSING)');
    assert.equal(render('{{printf "%d" "x"}}', {}), '%!d(string=x)');
    assert.equal(render('{{printf "%.2f|%6.1f" 3.14159 2.25}}', {}), '3.14|   2.2');
  });

  it('literals: strings with escapes, raw strings, numbers, booleans', () => {
    assert.equal(render('{{"a\\tb"}}|{{`r\\n`}}|{{3}}|{{1.5}}|{{-3}}|{{0x1F}}|{{true}}', {}), 'a\tb|r\\n|3|1.5|-3|31|true');
  });

  it('header functions return their argument unchanged', () => {
    const t = parseTemplate('{{upper .Names}}\t{{json .Labels}}\t{{truncate .ID 3}}');
    assert.equal(t.execute({ Names: 'NAMES', Labels: 'LABELS', ID: 'CONTAINER ID' }, HEADER_FUNCS), 'NAMES\tLABELS\tCONTAINER ID');
    assert.equal(t.execute({ Names: 'web', Labels: 'a', ID: 'abcdef' }, FUNCS), 'WEB\t"a"\tabc');
  });
});

describe('template: control structures', () => {
  it('if, else if, else', () => {
    const t = parseTemplate('{{if .A}}a{{else if .B}}b{{else}}c{{end}}');
    assert.equal(t.execute({ A: 1 }), 'a');
    assert.equal(t.execute({ B: 'x' }), 'b');
    assert.equal(t.execute({ A: 0, B: [] }), 'c');
  });

  it('with sets dot, else runs on empty values', () => {
    assert.equal(render('{{with .Labels}}L={{.}}{{else}}none{{end}}', row), 'L=a=1,b=2');
    assert.equal(render('{{with .Config.Env}}{{.}}{{else}}none{{end}}', inspected), 'none');
  });

  it('range over slices, maps (sorted keys), integers, with else, break and continue', () => {
    assert.equal(render('{{range .Config.Cmd}}[{{.}}]{{end}}', inspected), '[sh][-c][echo <hi>]');
    assert.equal(render('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}', inspected), 'a=1,b=2,');
    assert.equal(render('{{range $i, $e := .}}{{$i}}:{{$e}} {{end}}', ['x', 'y']), '0:x 1:y ');
    assert.equal(render('{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', inspected), '172.17.0.2');
    assert.equal(render('{{range .}}x{{else}}empty{{end}}', []), 'empty');
    assert.equal(render('{{range 3}}{{.}}{{end}}', null), '012');
    assert.equal(render('{{range .}}{{if eq . 2}}{{continue}}{{end}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}', [1, 2, 3, 4, 5]), '13');
  });

  it('range over a string fails as in Go', () => {
    assert.throws(() => render('{{range .Names}}x{{end}}', row), { message: 'template: :1:8: executing "" at <.Names>: range can\'t iterate over web' });
  });

  it('variables: declared in a block end with it; `=` assigns an outer one', () => {
    assert.equal(render('{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}', {}), '2');
    assert.throws(() => render('{{if true}}{{$y := 1}}{{end}}{{$y}}', {}), /undefined variable: \$y/);
  });

  it('trims whitespace around {{- and -}}, keeps comments out', () => {
    assert.equal(render('a  {{- "b" -}}  c', {}), 'abc');
    assert.equal(render('{{- if eq .State "running" -}}\n  R\n{{- else -}} N {{- end}}', row), 'R');
    assert.equal(render('x{{/* a comment */}}y{{- /* trimmed */ -}} z', {}), 'xyz');
  });
});

describe('template: parse errors', () => {
  const cases: [string, RegExp][] = [
    ['{{.Names', /template: :1: unclosed action/],
    ['{{foo 1}}', /function "foo" not defined/],
    ['{{if .A}}x', /unexpected EOF/],
    ['{{end}}', /unexpected \{\{end\}\}/],
    ['{{"abc}}', /unterminated quoted string/],
    ['{{break}}', /outside \{\{range\}\}/],
    ['{{json.}}', /unexpected <\.> in operand/],
  ];
  for (const [src, re] of cases) {
    it(`rejects ${src}`, () => {
      assert.throws(() => parseTemplate(src), (err: unknown) => err instanceof TemplateError && re.test(err.message));
    });
  }

  it('reports the line of a later error', () => {
    assert.throws(() => parseTemplate('a\nb\n{{.X'), /template: :3: unclosed action/);
  });
});
