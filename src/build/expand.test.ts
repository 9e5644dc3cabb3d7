import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envMap, expandWord, expandWords } from './expand.js';

const env = new Map([
  ['A', 'a'],
  ['B', 'b c'],
  ['EMPTY', ''],
  ['PATH', '/usr/local/bin:/usr/bin:/bin'],
  ['FILE', 'archive.tar.gz'],
]);

test('plain variables, braces and missing ones', () => {
  assert.equal(expandWord('$A', env), 'a');
  assert.equal(expandWord('${A}', env), 'a');
  assert.equal(expandWord('x$A-y', env), 'xa-y');
  assert.equal(expandWord('${A}bc', env), 'abc');
  assert.equal(expandWord('$Abc', env), '');
  assert.equal(expandWord('$MISSING', env), '');
  assert.equal(expandWord('a$', env), 'a$');
  assert.equal(expandWord('$ a', env), '$ a');
  assert.equal(expandWord('$1x', env), 'x');
});

test('defaults and alternatives, with and without the colon', () => {
  assert.equal(expandWord('${MISSING:-dflt}', env), 'dflt');
  assert.equal(expandWord('${EMPTY:-dflt}', env), 'dflt');
  assert.equal(expandWord('${EMPTY-dflt}', env), '');
  assert.equal(expandWord('${MISSING-dflt}', env), 'dflt');
  assert.equal(expandWord('${A:-dflt}', env), 'a');
  assert.equal(expandWord('${A:+alt}', env), 'alt');
  assert.equal(expandWord('${EMPTY:+alt}', env), '');
  assert.equal(expandWord('${EMPTY+alt}', env), 'alt');
  assert.equal(expandWord('${MISSING:+alt}', env), '');
  assert.equal(expandWord('${MISSING:-$A and ${B}}', env), 'a and b c');
  assert.equal(expandWord('${MISSING:-"quoted } brace"}', env), 'quoted } brace');
});

test('required variables fail with the message', () => {
  assert.throws(() => expandWord('${MISSING:?must be set}', env), /MISSING: must be set/);
  assert.throws(() => expandWord('${EMPTY:?}', env), /EMPTY: is not allowed to be unset/);
  assert.equal(expandWord('${EMPTY?x}', env), '');
  assert.equal(expandWord('${A:?x}', env), 'a');
});

test('pattern removal and replacement', () => {
  assert.equal(expandWord('${FILE%.*}', env), 'archive.tar');
  assert.equal(expandWord('${FILE%%.*}', env), 'archive');
  assert.equal(expandWord('${FILE#*.}', env), 'tar.gz');
  assert.equal(expandWord('${FILE##*.}', env), 'gz');
  assert.equal(expandWord('${PATH/bin/BIN}', env), '/usr/local/BIN:/usr/bin:/bin');
  assert.equal(expandWord('${PATH//bin/BIN}', env), '/usr/local/BIN:/usr/BIN:/BIN');
  assert.equal(expandWord('${FILE%nomatch}', env), 'archive.tar.gz');
});

test('quotes: single quotes are literal, double quotes expand, both are removed', () => {
  assert.equal(expandWord("'$A'", env), '$A');
  assert.equal(expandWord('"$A"', env), 'a');
  assert.equal(expandWord('"a \'$A\' b"', env), "a 'a' b");
  assert.equal(expandWord('\'a "$A" b\'', env), 'a "$A" b');
  assert.equal(expandWord('"x"y\'z\'', env), 'xyz');
  assert.throws(() => expandWord('"open', env), /double-quote/);
  assert.throws(() => expandWord("'open", env), /single-quote/);
});

test('escapes: outside quotes any character, inside double quotes only " $ and the escape', () => {
  assert.equal(expandWord('\\$A', env), '$A');
  assert.equal(expandWord('\\a', env), 'a');
  assert.equal(expandWord('a\\ b', env), 'a b');
  assert.equal(expandWord('"\\$A"', env), '$A');
  assert.equal(expandWord('"\\"q\\""', env), '"q"');
  assert.equal(expandWord('"\\n"', env), '\\n');
  assert.equal(expandWord('"\\\\"', env), '\\');
  assert.equal(expandWord("'\\$A'", env), '\\$A');
  assert.equal(expandWord('a\\', env), 'a');
  // The backtick escape (`# escape=\``): the backslash is an ordinary character.
  assert.equal(expandWord('C:\\path`$A', env, { escape: '`' }), 'C:\\path$A');
});

test('words split at unquoted whitespace, including inside expansions', () => {
  assert.deepEqual(expandWords('a  b\tc', env), ['a', 'b', 'c']);
  assert.deepEqual(expandWords('"a b" c', env), ['a b', 'c']);
  assert.deepEqual(expandWords('$B d', env), ['b', 'c', 'd']);
  assert.deepEqual(expandWords('"$B" d', env), ['b c', 'd']);
  assert.deepEqual(expandWords('x\\ y z', env), ['x y', 'z']);
  assert.deepEqual(expandWords('$MISSING a', env), ['a']);
  assert.deepEqual(expandWords('"" a', env), ['', 'a']);
  assert.deepEqual(expandWords('', env), []);
});

test('used names are reported', () => {
  const used = new Set<string>();
  expandWord('$A ${B:-x} ${C}', env, { used });
  assert.deepEqual([...used].sort(), ['A', 'B', 'C']);
});

test('bad substitutions fail', () => {
  assert.throws(() => expandWord('${', env), /bad substitution|missing/);
  assert.throws(() => expandWord('${A', env), /missing '}'/);
  assert.throws(() => expandWord('${A:=x}', env), /unsupported modifier/);
});

test('envMap takes KEY=value lists, later entries win', () => {
  assert.deepEqual([...envMap(['A=1', 'B=x=y', 'A=2', 'C'])], [['A', '2'], ['B', 'x=y'], ['C', '']]);
});

test('heredoc content: quotes are literal, variables and escapes still apply', () => {
  assert.equal(expandWord('it\'s "$A" \\$A\n', env, { literalQuotes: true }), 'it\'s "a" $A\n');
});
