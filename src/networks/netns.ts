import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { errnoCode, internal } from '../errors.js';
import { calls, errno, errnoName } from '../util/libc.js';

/**
 * Persistent network namespaces without spawning a process: the daemon's main thread enters a
 * new namespace (unshare), bind-mounts it on a file (as `ip netns add` does, but under pier's
 * exec-root), and goes back to its own namespace at once. Node runs JavaScript on the main
 * thread only and these steps are synchronous, so nothing else ever runs in the borrowed namespace.
 */

const c = calls;
const CLONE_NEWNET = 0x40000000;
const MS_BIND = 0x1000;
const MNT_DETACH = 0x2;

let hostNs: number | undefined;

function fail(call: string, target: string): never {
  const value = errno();
  throw internal(`${call} ${target}: ${errnoName(value) ?? `E${value}`}`);
}

/** The daemon's own network namespace, opened once. */
function home(): number {
  hostNs ??= openSync('/proc/self/ns/net', 'r');
  return hostNs;
}

function goHome(): void {
  if (c.setns(home(), CLONE_NEWNET) !== 0) {
    // The daemon cannot run on in a container's namespace.
    process.stderr.write('pierd: could not return to its own network namespace\n');
    process.abort();
  }
}

/** Create a new network namespace (only loopback, down) kept alive by a bind mount at `path`. */
export function createNetns(path: string): void {
  home();
  writeFileSync(path, '', { mode: 0o444 });
  if (c.unshare(CLONE_NEWNET) !== 0) fail('unshare(CLONE_NEWNET) for', path);
  try {
    if (c.mount('/proc/thread-self/ns/net', path, null, MS_BIND, null) !== 0) fail('bind mount of a network namespace on', path);
  } finally {
    goHome();
  }
}

/** Remove a namespace made by createNetns (its interfaces go with it). Missing is not an error. */
export function removeNetns(path: string): void {
  if (c.umount2(path, MNT_DETACH) !== 0) {
    const value = errno();
    // EINVAL: not a mount point (already unmounted); ENOENT: gone.
    if (value !== 22 && value !== 2) fail('umount', path);
  }
  try {
    rmSync(path, { force: true });
  } catch (err) {
    if (errnoCode(err) !== 'EBUSY') throw err;
  }
}

/**
 * Run `cmd` inside the namespace at `path` (the child is forked while the main thread is in
 * it, so no nsenter is needed); resolves with stdout, rejects (`internal`) with stderr.
 */
export function execIn(path: string, cmd: string, args: string[], input: string): Promise<string> {
  const fd = openSync(path, 'r');
  let child;
  try {
    home();
    if (c.setns(fd, CLONE_NEWNET) !== 0) fail('setns', path);
    try {
      child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    } finally {
      goHome();
    }
  } finally {
    closeSync(fd);
  }
  const proc = child;
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (b: Buffer) => out.push(b));
    proc.stderr.on('data', (b: Buffer) => err.push(b));
    proc.once('error', (e) => reject(internal(`${cmd}: ${e.message}`, e)));
    proc.once('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(internal(`${cmd} ${args.join(' ')} in ${path}: ${Buffer.concat(err).toString('utf8').trim() || `exit code ${code}`}`));
    });
    // A command that exits without reading its input (EPIPE) is judged by its exit code.
    proc.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(internal(`${cmd}: writing its input: ${e.message}`, e));
    });
    proc.stdin.end(input);
  });
}

/** One interface to configure inside a namespace: its IPv4 address and prefix, its IPv6 address when it has one; it is set up. */
export interface InsideInterface {
  name: string;
  ip: string;
  prefix: number;
  ip6?: { address: Buffer; prefix: number };
}

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SIOCADDRT = 0x890b;
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const SIOCSIFADDR = 0x8916;
const SIOCSIFNETMASK = 0x891c;
const IFF_UP = 0x1;
const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/** A `struct sockaddr_in` for `ip` (dotted quad) written at `offset` of `buf`. */
function putSockaddr(buf: Buffer, offset: number, ip: string): void {
  buf.writeUInt16LE(AF_INET, offset);
  const octets = ip.split('.').map(Number);
  for (let i = 0; i < 4; i++) buf[offset + 4 + i] = octets[i]!;
}

function ifreq(name: string): Buffer {
  const buf = Buffer.alloc(40);
  buf.write(name, 0, 15, 'latin1');
  return buf;
}

function ioctl(fd: number, request: number, arg: Buffer, what: string, path: string): void {
  if (c.ioctlBuffer(fd, request, arg) !== 0) fail(what, path);
}

function prefixMask(prefix: number): string {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join('.');
}

/**
 * Inside the namespace at `path`, with ioctls and netlink on sockets of the daemon (no process
 * is spawned): set loopback up when `lo`, give each interface of `ifaces` its address (and its
 * IPv6 address, without duplicate address detection, so that it is usable at once) and set it
 * up, and add the default routes via `gateway` and `gateway6` (`{ address, iface }`) when
 * given. Linux x86-64/arm64 (LP64) structure layouts. IPv6 addresses are 16-byte buffers.
 */
export function configureInside(path: string, opts: { lo: boolean; ifaces: InsideInterface[]; gateway?: string; gateway6?: { address: Buffer; iface: string } }): void {
  const fd = openSync(path, 'r');
  try {
    home();
    if (c.setns(fd, CLONE_NEWNET) !== 0) fail('setns', path);
    try {
      const sock = c.socket(AF_INET, SOCK_DGRAM, 0);
      if (sock < 0) fail('socket in', path);
      try {
        const up = (name: string): void => {
          const req = ifreq(name);
          ioctl(sock, SIOCGIFFLAGS, req, `SIOCGIFFLAGS ${name} in`, path);
          req.writeUInt16LE(req.readUInt16LE(16) | IFF_UP, 16);
          ioctl(sock, SIOCSIFFLAGS, req, `SIOCSIFFLAGS ${name} in`, path);
        };
        if (opts.lo) up('lo');
        for (const iface of opts.ifaces) {
          const addr = ifreq(iface.name);
          putSockaddr(addr, 16, iface.ip);
          ioctl(sock, SIOCSIFADDR, addr, `SIOCSIFADDR ${iface.name} in`, path);
          const mask = ifreq(iface.name);
          putSockaddr(mask, 16, prefixMask(iface.prefix));
          ioctl(sock, SIOCSIFNETMASK, mask, `SIOCSIFNETMASK ${iface.name} in`, path);
          up(iface.name);
        }
        if (opts.gateway) {
          // struct rtentry: rt_dst at 8, rt_gateway at 24, rt_genmask at 40, rt_flags at 56; 120 bytes.
          const rt = Buffer.alloc(120);
          putSockaddr(rt, 8, '0.0.0.0');
          putSockaddr(rt, 24, opts.gateway);
          putSockaddr(rt, 40, '0.0.0.0');
          rt.writeUInt16LE(RTF_UP | RTF_GATEWAY, 56);
          ioctl(sock, SIOCADDRT, rt, `SIOCADDRT default via ${opts.gateway} in`, path);
        }
      } finally {
        c.close(sock);
      }
      const v6 = opts.ifaces.filter((i) => i.ip6);
      if (v6.length > 0 || opts.gateway6) {
        const nl = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (nl < 0) fail('netlink socket in', path);
        try {
          for (const iface of v6) addAddress6(nl, iface.name, iface.ip6!.address, iface.ip6!.prefix, path);
          if (opts.gateway6) addDefaultRoute6(nl, opts.gateway6.iface, opts.gateway6.address, path);
        } finally {
          c.close(nl);
        }
      }
    } finally {
      goHome();
    }
  } finally {
    closeSync(fd);
  }
}

/** One veth pair: `host` on `bridge` and up in the daemon's namespace, `peer` (down, with `mac`) in the namespace at the given path. */
export interface VethPair {
  host: string;
  bridge: string;
  peer: string;
  mac: string;
}

const AF_INET6 = 10;
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const RTM_NEWLINK = 16;
const RTM_NEWADDR = 20;
const RTM_NEWROUTE = 24;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_F_NODAD = 0x02;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RTN_UNICAST = 1;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;

/** A netlink attribute: length, type, payload, padded to 4 bytes. */
function rtattr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const buf = Buffer.alloc((len + 3) & ~3);
  buf.writeUInt16LE(len, 0);
  buf.writeUInt16LE(type, 2);
  payload.copy(buf, 4);
  return buf;
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
};

/** struct ifinfomsg: AF_UNSPEC, flags and change mask. */
function ifinfomsg(flags: number, change: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

/**
 * Create veth pairs with one netlink request each (RTM_NEWLINK, what `ip link add HOST master
 * BRIDGE up type veth peer name PEER address MAC netns PATH` sends), from the daemon itself:
 * no process is spawned. Fails (`internal`) with the kernel's error, e.g. EEXIST for a name in use.
 */
export function createVeths(path: string, pairs: VethPair[]): void {
  const nsFd = openSync(path, 'r');
  try {
    const sock = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (sock < 0) fail('netlink socket for', path);
    try {
      pairs.forEach((pair, seq) => {
        const bridge = c.if_nametoindex(pair.bridge);
        if (bridge === 0) fail(`bridge ${pair.bridge} for`, path);
        const mac = Buffer.from(pair.mac.split(':').map((h) => parseInt(h, 16)));
        const peer = Buffer.concat([ifinfomsg(0, 0), rtattr(IFLA_IFNAME, cstr(pair.peer)), rtattr(IFLA_ADDRESS, mac), rtattr(IFLA_NET_NS_FD, u32(nsFd))]);
        const linkinfo = Buffer.concat([rtattr(IFLA_INFO_KIND, cstr('veth')), rtattr(IFLA_INFO_DATA, rtattr(VETH_INFO_PEER, peer))]);
        const payload = Buffer.concat([ifinfomsg(IFF_UP, IFF_UP), rtattr(IFLA_IFNAME, cstr(pair.host)), rtattr(IFLA_MASTER, u32(bridge)), rtattr(IFLA_LINKINFO, linkinfo)]);
        netlinkCall(sock, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, payload, seq + 1, `creating veth ${pair.host} (peer ${pair.peer} in ${path})`);
      });
    } finally {
      c.close(sock);
    }
  } finally {
    closeSync(nsFd);
  }
}

/**
 * Send one netlink request (`type`, NLM_F_REQUEST | NLM_F_ACK | `flags`) on `sock` and wait for
 * its acknowledgement; fails (`internal`) with the kernel's error, named after `what`.
 */
function netlinkCall(sock: number, type: number, flags: number, payload: Buffer, seq: number, what: string): void {
  const msg = Buffer.alloc(16 + payload.length);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(type, 4);
  msg.writeUInt16LE(NLM_F_REQUEST | NLM_F_ACK | flags, 6);
  msg.writeUInt32LE(seq, 8);
  payload.copy(msg, 16);
  if ((c.send(sock, msg, msg.length, 0)) !== msg.length) fail('netlink send', what);
  const reply = Buffer.alloc(8192);
  const n = c.recv(sock, reply, reply.length, 0);
  if (n < 20) fail('netlink reply', what);
  if (reply.readUInt16LE(4) !== NLMSG_ERROR) throw internal(`netlink: unexpected reply ${reply.readUInt16LE(4)} ${what}`);
  const failure = -reply.readInt32LE(16);
  if (failure !== 0) throw internal(`${what}: ${errnoName(failure) ?? `E${failure}`}`);
}

/** The index of an interface in the namespace the calling thread is in; fails when there is none. */
function ifindex(name: string, path: string): number {
  const index = c.if_nametoindex(name);
  if (index === 0) fail(`interface ${name} in`, path);
  return index;
}

/** RTM_NEWADDR: an IPv6 address on `iface`, with IFA_F_NODAD (what `ip -6 addr add ADDR/PREFIX dev IFACE nodad` sends). */
function addAddress6(sock: number, iface: string, address: Buffer, prefix: number, path: string): void {
  const msg = Buffer.alloc(8);
  msg[0] = AF_INET6;
  msg[1] = prefix;
  msg[2] = IFA_F_NODAD;
  msg.writeUInt32LE(ifindex(iface, path), 4);
  const payload = Buffer.concat([msg, rtattr(IFA_LOCAL, address), rtattr(IFA_ADDRESS, address)]);
  netlinkCall(sock, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, payload, 1, `adding an IPv6 address to ${iface} in ${path}`);
}

/** RTM_NEWROUTE: the IPv6 default route via `gateway` on `iface` (what `ip -6 route add default via GW dev IFACE` sends). */
function addDefaultRoute6(sock: number, iface: string, gateway: Buffer, path: string): void {
  const msg = Buffer.alloc(12);
  msg[0] = AF_INET6;
  msg[4] = RT_TABLE_MAIN;
  msg[5] = RTPROT_BOOT;
  msg[7] = RTN_UNICAST;
  const payload = Buffer.concat([msg, rtattr(RTA_GATEWAY, gateway), rtattr(RTA_OIF, u32(ifindex(iface, path)))]);
  netlinkCall(sock, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, payload, 2, `adding the IPv6 default route via ${iface} in ${path}`);
}

/** Whether a network interface of this name exists in the daemon's namespace. */
export function linkExists(name: string): boolean {
  return c.if_nametoindex(name) !== 0;
}
