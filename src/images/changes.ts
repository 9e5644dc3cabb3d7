import { posix } from 'node:path';
import { invalid } from '../errors.js';
import { isSignal } from '../util/signals.js';
import type { Healthcheck, ImageConfig } from './types.js';

/**
 * The `changes` of `docker import` and `docker commit` (`--change 'CMD ["sh"]'`): Dockerfile
 * lines that edit an image config, as Docker's BuildFromConfig applies them. Allowed:
 * CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL, ONBUILD, HEALTHCHECK.
 * Variables (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`) expand from the config's Env
 * in the instructions that expand them in a Dockerfile (not in CMD, ENTRYPOINT, ONBUILD).
 */

const ALLOWED = new Set(['cmd', 'entrypoint', 'env', 'expose', 'label', 'user', 'workdir', 'volume', 'stopsignal', 'onbuild', 'healthcheck']);

/**
 * Apply the changes to a copy of `base` and return it; `base` is not modified. Throws
 * `invalid` (`from is not a valid change command`, malformed arguments).
 */
export function applyChanges(base: ImageConfig, changes: readonly string[]): ImageConfig {
  const config: ImageConfig = structuredClone(base);
  let cmdSet = false;
  for (const line of logicalLines(changes.join('\n'))) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(line);
    if (!m) continue;
    const instruction = m[1]!.toLowerCase();
    const rest = m[2]!.trim();
    if (!ALLOWED.has(instruction)) throw invalid(`${instruction} is not a valid change command`);
    const env = envMap(config.Env ?? []);
    switch (instruction) {
      case 'cmd':
        config.Cmd = commandArgs(rest, config.Shell, 'CMD');
        cmdSet = true;
        break;
      case 'entrypoint':
        config.Entrypoint = commandArgs(rest, config.Shell, 'ENTRYPOINT');
        if (!cmdSet) config.Cmd = null;
        break;
      case 'env': {
        const pairs = keyValues(rest, env, 'ENV');
        const out = [...(config.Env ?? [])];
        for (const [k, v] of pairs) {
          const i = out.findIndex((e) => e.split('=', 1)[0] === k);
          if (i >= 0) out[i] = `${k}=${v}`;
          else out.push(`${k}=${v}`);
          env.set(k, v);
        }
        config.Env = out;
        break;
      }
      case 'label': {
        const labels = { ...(config.Labels ?? {}) };
        for (const [k, v] of keyValues(rest, env, 'LABEL')) labels[k] = v;
        config.Labels = labels;
        break;
      }
      case 'expose': {
        const ports = { ...(config.ExposedPorts ?? {}) };
        const words = shellWords(rest, env);
        if (words.length === 0) throw invalid('EXPOSE requires at least one argument');
        for (const w of words) for (const p of exposedPorts(w)) ports[p] = {};
        config.ExposedPorts = ports;
        break;
      }
      case 'user':
        config.User = singleWord(rest, env, 'USER');
        break;
      case 'workdir': {
        const dir = singleWord(rest, env, 'WORKDIR');
        config.WorkingDir = posix.isAbsolute(dir) ? posix.normalize(dir) : posix.join(config.WorkingDir || '/', dir);
        break;
      }
      case 'volume': {
        const list = jsonArray(rest) ?? shellWords(rest, env);
        if (list.length === 0) throw invalid('VOLUME requires at least one argument');
        const vols = { ...(config.Volumes ?? {}) };
        for (const v of list) {
          if (v.trim() === '') throw invalid('VOLUME specified can not be an empty string');
          vols[v] = {};
        }
        config.Volumes = vols;
        break;
      }
      case 'stopsignal': {
        const sig = singleWord(rest, env, 'STOPSIGNAL');
        if (!isSignal(sig)) throw invalid(`invalid signal: ${sig}`);
        config.StopSignal = sig;
        break;
      }
      case 'onbuild': {
        const inner = /^(\S+)/.exec(rest)?.[1]?.toUpperCase();
        if (!inner) throw invalid('ONBUILD requires at least one argument');
        if (inner === 'ONBUILD') throw invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
        if (inner === 'FROM' || inner === 'MAINTAINER') throw invalid(`${inner} isn't allowed as an ONBUILD trigger`);
        config.OnBuild = [...(config.OnBuild ?? []), rest];
        break;
      }
      case 'healthcheck':
        config.Healthcheck = healthcheck(rest);
        break;
    }
  }
  return config;
}

/** Split Dockerfile text into instructions: `\` at a line end continues it; `#` lines are comments. */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of text.split(/\r?\n/)) {
    const trimmed = raw.trim();
    if (current === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (current !== '' && trimmed.startsWith('#')) continue;
    if (/\\\s*$/.test(raw)) {
      current += raw.replace(/\\\s*$/, '');
      continue;
    }
    current += raw;
    if (current.trim() !== '') out.push(current.trim());
    current = '';
  }
  if (current.trim() !== '') out.push(current.trim());
  return out;
}

function envMap(env: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env) {
    const i = e.indexOf('=');
    if (i > 0) m.set(e.slice(0, i), e.slice(i + 1));
  }
  return m;
}

/** A JSON array of strings, or undefined when `text` is not one (then it is shell form). */
function jsonArray(text: string): string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return undefined;
  return v;
}

/** CMD and ENTRYPOINT: JSON form as given, shell form through the shell (`/bin/sh -c`). */
function commandArgs(rest: string, shell: string[] | null | undefined, what: string): string[] {
  const json = jsonArray(rest);
  if (json) return json;
  if (rest === '') {
    if (what === 'ENTRYPOINT') return [...(shell?.length ? shell : ['/bin/sh', '-c']), ''];
    throw invalid(`${what} requires at least one argument`);
  }
  return [...(shell?.length ? shell : ['/bin/sh', '-c']), rest];
}

function singleWord(rest: string, env: Map<string, string>, what: string): string {
  const words = shellWords(rest, env);
  if (words.length !== 1) throw invalid(`${what} requires exactly one argument`);
  return words[0]!;
}

/**
 * ENV and LABEL arguments: `k=v k2="v 2"`, or the legacy `k value with spaces` when the first
 * word has no `=`.
 */
function keyValues(rest: string, env: Map<string, string>, what: string): Array<[string, string]> {
  if (rest === '') throw invalid(`${what} requires at least one argument`);
  const firstWord = /^\S+/.exec(rest)![0];
  if (!firstWord.includes('=')) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(rest);
    if (!m) throw invalid(`${what} must have two arguments`);
    const value = shellWords(m[2]!, env, true).join('');
    return [[unquote(m[1]!, env), value]];
  }
  const pairs: Array<[string, string]> = [];
  for (const word of shellWords(rest, env)) {
    const i = word.indexOf('=');
    if (i < 0) throw invalid(`Syntax error - can't find = in "${word}". Must be of the form: name=value`);
    const key = word.slice(0, i);
    if (key === '') throw invalid(`${what} names can not be blank`);
    pairs.push([key, word.slice(i + 1)]);
  }
  return pairs;
}

function unquote(word: string, env: Map<string, string>): string {
  return shellWords(word, env).join(' ');
}

/**
 * Split on unquoted blanks, removing quotes and backslash escapes and expanding variables.
 * `keepBlanks` keeps the text as one word (legacy ENV value).
 */
export function shellWords(text: string, env: Map<string, string>, keepBlanks = false): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const s = text;
  while (i < s.length) {
    const c = s[i]!;
    if (!keepBlanks && /\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) throw invalid('unexpected end of statement while looking for matching single-quote');
      word += s.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length && '\\"$`'.includes(s[i + 1]!)) {
          word += s[i + 1]!;
          i += 2;
        } else if (s[i] === '$') {
          const [value, next] = expandVar(s, i, env);
          word += value;
          i = next;
        } else word += s[i++]!;
      }
      if (i >= s.length) throw invalid('unexpected end of statement while looking for matching double-quote');
      i++;
    } else if (c === '\\' && i + 1 < s.length) {
      word += s[i + 1]!;
      i += 2;
    } else if (c === '$') {
      const [value, next] = expandVar(s, i, env);
      word += value;
      i = next;
    } else {
      word += c;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** Expand the variable at `s[i] === '$'`; returns its value and the index after it. */
function expandVar(s: string, i: number, env: Map<string, string>): [string, number] {
  if (s[i + 1] === '{') {
    const end = s.indexOf('}', i + 2);
    if (end < 0) throw invalid(`missing '}' in ${s}`);
    const body = s.slice(i + 2, end);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([\s\S]*))?$/.exec(body);
    if (!m) throw invalid(`bad substitution in ${s}`);
    const value = env.get(m[1]!);
    if (m[2] === '-') return [value ? value : m[3]!, end + 1];
    if (m[2] === '+') return [value ? m[3]! : '', end + 1];
    return [value ?? '', end + 1];
  }
  const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i + 1));
  if (!m) return ['$', i + 1];
  return [env.get(m[0]) ?? '', i + 1 + m[0].length];
}

/** `80`, `80/udp`, `8000-8002/tcp` → `80/tcp`, ... */
function exposedPorts(word: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
  if (!m) throw invalid(`invalid containerPort: ${word.split('/')[0]}`);
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  if (start > 65535 || end > 65535 || end < start) throw invalid(`invalid range specified for container port: ${word}`);
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  return out;
}

/** `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=..] [--timeout=..] [--start-period=..] [--start-interval=..] [--retries=N] CMD ...`. */
function healthcheck(rest: string): Healthcheck {
  if (/^none$/i.test(rest)) return { Test: ['NONE'] };
  const hc: Healthcheck = {};
  let s = rest;
  for (;;) {
    const m = /^--([a-z-]+)=(\S*)\s*/.exec(s);
    if (!m) break;
    s = s.slice(m[0].length);
    const [, flag, value] = m as unknown as [string, string, string];
    switch (flag) {
      case 'interval':
        hc.Interval = duration(value, flag);
        break;
      case 'timeout':
        hc.Timeout = duration(value, flag);
        break;
      case 'start-period':
        hc.StartPeriod = duration(value, flag);
        break;
      case 'start-interval':
        hc.StartInterval = duration(value, flag);
        break;
      case 'retries': {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 0) throw invalid(`invalid --retries value: ${value}`);
        hc.Retries = n;
        break;
      }
      default:
        throw invalid(`Unknown flag: ${flag}`);
    }
  }
  const m = /^(\S+)\s*([\s\S]*)$/.exec(s);
  if (!m || m[1]!.toUpperCase() !== 'CMD') throw invalid(`Unknown type "${m?.[1] ?? ''}" in HEALTHCHECK (try CMD)`);
  const cmd = m[2]!.trim();
  const json = jsonArray(cmd);
  hc.Test = json ? ['CMD', ...json] : ['CMD-SHELL', cmd];
  return hc;
}

/** Go's time.ParseDuration subset (`30s`, `1m30s`, `500ms`), in nanoseconds. Zero means "inherit". */
export function duration(value: string, flag: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  if (value === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|\u00b5s|ms|s|m|h)/gy; // \u00b5: the micro sign, escaped to keep the bundle ASCII
  let total = 0;
  let pos = 0;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== value.length || value === '') throw invalid(`invalid duration for --${flag}: ${value}`);
  return Math.round(total);
}
