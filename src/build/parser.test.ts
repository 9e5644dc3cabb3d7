import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flagValue, flagValues, keyValuePairs, parseDockerfile, parseJsonArray, splitShellWords } from './parser.js';
import { planStages } from './stages.js';

const cmds = (text: string): string[] => parseDockerfile(text).instructions.map((i) => `${i.line}:${i.command}:${i.rest}`);

test('instructions are case-insensitive, comments and blank lines skipped, lines numbered', () => {
  assert.deepEqual(cmds('# hi\n\nfrom busybox\n  run echo a # not a comment\n# c\nCMD ["x"]\n'), ['3:from:busybox', '4:run:echo a # not a comment', '6:cmd:["x"]']);
});

test('line continuations join lines; comment and blank lines inside are skipped', () => {
  const df = parseDockerfile('FROM busybox\nRUN echo a \\\n  && echo b \\\n# comment\n\n  && echo c\nCMD x\n');
  assert.equal(df.instructions[1]!.rest, 'echo a   && echo b   && echo c');
  assert.equal(df.instructions[1]!.line, 2);
  assert.equal(df.instructions[2]!.line, 7);
});

test('a continuation with trailing spaces after the backslash still continues', () => {
  const df = parseDockerfile('FROM busybox\nRUN a \\   \n b\n');
  assert.equal(df.instructions[1]!.rest, 'a  b');
});

test('parser directives: escape and syntax at the top only', () => {
  const df = parseDockerfile('# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\nRUN a `\n b\n');
  assert.equal(df.escape, '`');
  assert.equal(df.directives.syntax, 'docker/dockerfile:1');
  assert.equal(df.instructions[1]!.rest, 'a  b');
  // After an instruction or a comment, `# escape=` is only a comment.
  const late = parseDockerfile('# a comment\n# escape=`\nFROM busybox\nRUN a \\\n b\n');
  assert.equal(late.escape, '\\');
  assert.equal(late.instructions[1]!.rest, 'a  b');
  assert.throws(() => parseDockerfile('# escape=x\nFROM a\n'), /invalid escape token/);
  assert.throws(() => parseDockerfile('# escape=`\n# escape=\\\nFROM a\n'), /only one escape parser directive/);
});

test('exec form and shell form, with the fallback for invalid JSON', () => {
  const df = parseDockerfile('FROM b\nCMD ["echo", "a  b"]\nCMD [echo, a]\nENTRYPOINT ["x", 1]\nRUN [ "sh" ,"-c", "true" ]\nCMD echo "x"\n');
  assert.deepEqual(df.instructions[1]!.json, ['echo', 'a  b']);
  assert.equal(df.instructions[2]!.json, null);
  assert.equal(df.instructions[3]!.json, null);
  assert.deepEqual(df.instructions[4]!.json, ['sh', '-c', 'true']);
  assert.equal(df.instructions[5]!.json, null);
  assert.equal(parseJsonArray('[]')?.length, 0);
  assert.equal(parseJsonArray('["a"'), null);
});

test('flags: --name=value before the arguments; repeated flags accumulate', () => {
  const df = parseDockerfile('FROM --platform=linux/amd64 busybox AS b\nCOPY --from=b --chown=1:2 a /x\nRUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none echo hi\n');
  assert.equal(flagValue(df.instructions[0]!, 'platform'), 'linux/amd64');
  assert.equal(df.instructions[0]!.rest, 'busybox AS b');
  assert.equal(flagValue(df.instructions[1]!, 'from'), 'b');
  assert.equal(flagValue(df.instructions[1]!, 'chown'), '1:2');
  assert.equal(df.instructions[1]!.rest, 'a /x');
  assert.deepEqual(flagValues(df.instructions[2]!, 'mount'), ['type=cache,target=/c', 'type=tmpfs,target=/t']);
  assert.equal(flagValue(df.instructions[2]!, 'network'), 'none');
  assert.equal(df.instructions[2]!.rest, 'echo hi');
});

test('heredocs: one, several, <<- strips tabs, quoted delimiters, content lines untouched', () => {
  const df = parseDockerfile('FROM b\nRUN <<EOF\necho a \\\n# not a comment\nEOF\nCOPY <<one <<-"two" /dst/\nfirst\none\n\t\tsecond $X\n\ttwo\nCMD x\n');
  const run = df.instructions[1]!;
  assert.equal(run.heredocs.length, 1);
  assert.equal(run.heredocs[0]!.content, 'echo a \\\n# not a comment\n');
  assert.equal(run.json, null);
  const copy = df.instructions[2]!;
  assert.deepEqual(
    copy.heredocs.map((h) => [h.name, h.content, h.quoted, h.chomp]),
    [
      ['one', 'first\n', false, false],
      ['two', 'second $X\n', true, true],
    ],
  );
  assert.equal(df.instructions[3]!.command, 'cmd');
  assert.equal(df.instructions[3]!.line, 11);
  assert.throws(() => parseDockerfile('FROM b\nRUN <<EOF\necho\n'), /line 2: unterminated heredoc EOF/);
  // `<<` inside a word and here-strings are not heredocs.
  assert.equal(parseDockerfile('FROM b\nRUN cat <<<"x" && echo a<<b\n').instructions[1]!.heredocs.length, 0);
});

test('errors name the line and the instruction', () => {
  assert.throws(() => parseDockerfile('FROM b\n\nFROOM c\n'), /dockerfile parse error line 3: unknown instruction: FROOM/);
  assert.throws(() => parseDockerfile('FROM b\nCOPY onlyone\n'), /line 2: COPY requires at least two arguments/);
  assert.throws(() => parseDockerfile('FROM a b\n'), /line 1: FROM requires either one or three arguments/);
  assert.throws(() => parseDockerfile('FROM b\nSHELL sh -c\n'), /line 2: SHELL requires the arguments to be in JSON form/);
  assert.throws(() => parseDockerfile('FROM b\nONBUILD ONBUILD RUN x\n'), /line 2: Chaining ONBUILD/);
  assert.throws(() => parseDockerfile('FROM b\nRUN\n'), /line 2: RUN requires at least one argument/);
  assert.throws(() => parseDockerfile('FROM b AS 1x\n'), /invalid name for build stage/);
});

test('splitShellWords keeps quotes and escapes; keyValuePairs reads both ENV forms', () => {
  assert.deepEqual(splitShellWords('a "b c" d\\ e \'f g\''), ['a', '"b c"', 'd\\ e', "'f g'"]);
  const env = (rest: string) => keyValuePairs({ command: 'env', original: '', line: 4, flags: [], rest, json: null, heredocs: [] });
  assert.deepEqual(env('A=1 B="two words" C=x\\ y'), [['A', '1'], ['B', '"two words"'], ['C', 'x\\ y']]);
  assert.deepEqual(env('OLD value with  spaces'), [['OLD', 'value with  spaces']]);
  assert.throws(() => env('A=1 B'), /line 4: ENV names can not be blank|can't find =/);
  assert.throws(() => env('ALONE'), /line 4: ENV must have two arguments/);
});

test('stages: names, bases, --from dependencies, the target and what it needs', () => {
  const df = parseDockerfile(['ARG V=1', 'FROM busybox AS base', 'RUN a', 'FROM base AS one', 'RUN b', 'FROM busybox AS unused', 'RUN c', 'FROM busybox AS two', 'COPY --from=one /x /y', 'COPY --from=0 /x /z', 'FROM busybox AS after', ''].join('\n'));
  const all = planStages(df);
  assert.deepEqual(all.map((s) => [s.name, s.needed]), [['base', false], ['one', false], ['unused', false], ['two', false], ['after', true]]);
  const two = planStages(df, 'two');
  assert.deepEqual(two.map((s) => [s.name, s.baseStage, s.deps, s.needed, s.firstStep]), [
    ['base', null, [], true, 1],
    ['one', 0, [0], true, 3],
    ['unused', null, [], false, 5],
    ['two', null, [1, 0], true, 7],
  ]);
  assert.throws(() => planStages(df, 'nope'), /failed to reach build target nope/);
  assert.throws(() => planStages(parseDockerfile('FROM a AS x\nFROM b AS X\n')), /line 2: duplicate stage name/);
  assert.throws(() => planStages(parseDockerfile('RUN x\n')), /line 1: RUN cannot be used before FROM/);
});
