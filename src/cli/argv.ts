import type { Command, Option } from 'commander';
import { passThrough } from './commands/declare/declare.js';

/**
 * The command line before commander reads it: which command it names, and Docker's flag
 * spellings that commander does not take, rewritten.
 */

/** The command named on the command line: the first word after the global flags. */
export function firstCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-H' || a === '--host') i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

function findOption(cmd: Command, flag: string): Option | undefined {
  return cmd.options.find((o) => o.short === flag || o.long === flag);
}

const takesValue = (o: Option): boolean => o.required || o.optional;

/**
 * Docker's flag library accepts `--rm=false`, `--sig-proxy=false`, `-e=A=1`; commander does
 * not. Rewrite them: `--x=true` → `--x`, `--x=false` → `--no-x` (or nothing when false is
 * the default), `-e=A=1` → `-e A=1`. Arguments after a `run`/`create` image are the
 * container's own and are left alone.
 */
export function normalizeArgs(program: Command, argv: string[]): string[] {
  const out: string[] = [];
  let cmd = program;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(0, eq) : a;
      const opt = findOption(cmd, name);
      if (opt && eq > 0 && !takesValue(opt)) {
        const v = a.slice(eq + 1).toLowerCase();
        if (v === 'true' || v === '1') out.push(name);
        else if (v === 'false' || v === '0') {
          const negation = opt.long && !opt.negate ? findOption(cmd, opt.long.replace(/^--/, '--no-')) : undefined;
          if (negation) out.push(negation.long!);
        } else out.push(a);
        continue;
      }
      if (opt && eq > 0 && !a.startsWith('--')) {
        out.push(name, a.slice(eq + 1));
        continue;
      }
      out.push(a);
      if (opt && eq < 0 && takesValue(opt) && i + 1 < argv.length) out.push(argv[++i]!);
      else if (!opt && /^-[a-zA-Z]{2,}$/.test(a)) {
        // combined short flags (`-it`, `-dp 80:80`): a last flag that takes a value takes the next word
        const last = findOption(cmd, `-${a[a.length - 1]}`);
        if (last && takesValue(last) && i + 1 < argv.length) out.push(argv[++i]!);
      }
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    out.push(a);
    if (sub) {
      cmd = sub;
      continue;
    }
    if (passThrough.has(cmd)) {
      out.push(...argv.slice(i + 1));
      break;
    }
  }
  return out;
}
