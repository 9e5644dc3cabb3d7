import { closeSync, openSync, writeFileSync } from 'node:fs';
import { internal, withContext } from '../errors.js';
import { calls, sysError } from '../util/libc.js';

/**
 * Network sysctls written by pierd into a network namespace the container joins by path.
 * A container in a user namespace of its own cannot write them itself: the namespace was made
 * by the networks part, in the host's user namespace, and the kernel lets only a process
 * privileged there change it. The daemon's main thread enters the namespace, writes, and goes
 * back at once (synchronous calls: nothing else runs meanwhile), as src/networks/netns.ts does.
 */

const setns = calls.setns;
const CLONE_NEWNET = 0x40000000;

let own: number | undefined;

/** Write `sysctls` (`net.ipv4.ip_unprivileged_port_start` style names) in the namespace at `path`. */
export function writeNetSysctls(path: string, sysctls: Record<string, string>): void {
  if (Object.keys(sysctls).length === 0) return;
  own ??= openSync('/proc/self/ns/net', 'r');
  const fd = openSync(path, 'r');
  try {
    if (setns(fd, CLONE_NEWNET) !== 0) throw internal(`sysctls of ${path}: ${sysError('setns', path).message}`);
    try {
      for (const [name, value] of Object.entries(sysctls)) {
        try {
          writeFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, value);
        } catch (err) {
          throw withContext(`sysctl ${name}=${value}`, err);
        }
      }
    } finally {
      if (setns(own, CLONE_NEWNET) !== 0) {
        process.stderr.write('pierd: could not return to its own network namespace\n');
        process.abort();
      }
    }
  } finally {
    closeSync(fd);
  }
}
