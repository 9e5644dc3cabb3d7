/**
 * Kubernetes names from Docker's. Docker allows `[a-zA-Z0-9][a-zA-Z0-9_.-]*` for services,
 * containers and volumes; Kubernetes wants DNS labels. A Service's name must be an RFC 1035
 * label (lower case letters, digits and `-`, a letter first, at most 63 characters), which is
 * also a valid name for every other object pier writes, so every name is made one.
 */

/** `name` as an RFC 1035 label: lower case, `_`, `.` and `/` as `-`, other characters dropped, `x-` before a leading digit, at most `max` characters. */
export function dnsLabel(name: string, max = 63): string {
  let s = name
    .toLowerCase()
    .replace(/[_./\s]+/g, '-')
    .replace(/[^a-z0-9-]/g, '')
    .replace(/-{2,}/g, '-')
    .replace(/^-+/, '');
  if (!/^[a-z]/.test(s)) s = `x-${s}`;
  return s.slice(0, max).replace(/-+$/, '') || 'x';
}

/** Hands out distinct labels within one scope (a kind of object, one Pod's volumes): a label taken twice gets `-2`, `-3`. */
export class LabelSet {
  private readonly taken = new Set<string>();

  /** A label for `name` that this set has not handed out before. */
  take(name: string, max = 63): string {
    const base = dnsLabel(name, max);
    let label = base;
    for (let n = 2; this.taken.has(label); n++) label = `${dnsLabel(base, max - String(n).length - 1)}-${n}`;
    this.taken.add(label);
    return label;
  }
}
