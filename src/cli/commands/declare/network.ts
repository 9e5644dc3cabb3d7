import type { Command } from 'commander';
import type { Cli } from '../../context.js';
import { collect, type Declarer, type Handler } from './declare.js';

/** The `network` management command, and `port`. */

const networkMod = () => import('../network.js');

export function defNetwork(d: Declarer): void {
  const network = d.program.command('network').usage('COMMAND').description('Manage networks');
  d.nameCommands(network);
  network
    .command('create')
    .usage('[OPTIONS] NETWORK')
    .description('Create a network')
    .argument('<network>')
    .option('--attachable', 'Enable manual container attachment')
    .option('--aux-address <name=ip>', 'Auxiliary IPv4 or IPv6 addresses used by Network driver', collect)
    .option('--config-from <network>', 'The network from which to copy the configuration')
    .option('--config-only', 'Create a configuration only network')
    .option('-d, --driver <driver>', 'Driver to manage the Network', 'bridge')
    .option('--gateway <ip>', 'IPv4 or IPv6 Gateway for the master subnet', collect)
    .option('--ingress', 'Create swarm routing-mesh network')
    .option('--internal', 'Restrict external access to the network')
    .option('--ip-range <range>', 'Allocate container ip from a sub-range', collect)
    .option('--ipam-driver <driver>', 'IP Address Management Driver', 'default')
    .option('--ipam-opt <opt>', 'Set IPAM driver specific options', collect)
    .option('--ipv4', 'Enable or disable IPv4 address assignment (default true)')
    .option('--no-ipv4', 'Disable IPv4 address assignment')
    .option('--ipv6', 'Enable or disable IPv6 address assignment')
    .option('--label <label>', 'Set metadata on a network', collect)
    .option('-o, --opt <opt>', 'Set driver specific options', collect)
    .option('--scope <scope>', "Control the network's scope")
    .option('--subnet <subnet>', 'Subnet in CIDR format that represents a network segment', collect)
    .action(d.act(networkMod, (m) => m.networkCreate as Handler));
  network
    .command('ls')
    .aliases(['list'])
    .usage('[OPTIONS]')
    .description('List networks')
    .option('-f, --filter <filter>', "Provide filter values (e.g. 'driver=bridge')", collect)
    .option('--format <string>', "Format output using a custom template: 'table', 'table TEMPLATE', 'json', 'TEMPLATE'")
    .option('--no-trunc', 'Do not truncate the output')
    .option('-q, --quiet', 'Only display network IDs')
    .action(d.act(networkMod, (m) => ((cli: Cli, o: Record<string, unknown>) => m.networkLs(cli, { ...o, noTrunc: o.trunc === false }))));
  network
    .command('inspect')
    .usage('[OPTIONS] NETWORK [NETWORK...]')
    .description('Display detailed information on one or more networks')
    .argument('<networks...>')
    .option('-f, --format <string>', 'Format output using a custom template')
    .option('-v, --verbose', 'Verbose output for diagnostics')
    .action(d.act(networkMod, (m) => m.networkInspect as Handler));
  network
    .command('rm')
    .aliases(['remove'])
    .usage('NETWORK [NETWORK...]')
    .description('Remove one or more networks')
    .argument('<networks...>')
    .option('-f, --force', 'Do not error if the network does not exist')
    .action(d.act(networkMod, (m) => m.networkRm as Handler));
  network
    .command('prune')
    .usage('[OPTIONS]')
    .description('Remove all unused networks')
    .option('-f, --force', 'Do not prompt for confirmation')
    .option('--filter <filter>', "Provide filter values (e.g. 'until=<timestamp>')", collect)
    .action(d.act(networkMod, (m) => m.networkPrune as Handler));
  network
    .command('connect')
    .usage('[OPTIONS] NETWORK CONTAINER')
    .description('Connect a container to a network')
    .argument('<network>')
    .argument('<container>')
    .option('--alias <alias>', 'Add network-scoped alias for the container', collect)
    .option('--driver-opt <opt>', 'driver options for the network', collect)
    .option('--ip <address>', 'IPv4 address (e.g., "172.30.100.104")')
    .option('--ip6 <address>', 'IPv6 address (e.g., "2001:db8::33")')
    .option('--link <link>', 'Add link to another container', collect)
    .option('--link-local-ip <address>', 'Add a link-local address for the container', collect)
    .action(d.act(networkMod, (m) => m.networkConnect as Handler));
  network
    .command('disconnect')
    .usage('[OPTIONS] NETWORK CONTAINER')
    .description('Disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'Force the container to disconnect from a network')
    .action(d.act(networkMod, (m) => m.networkDisconnect as Handler));
}

export function defPort(d: Declarer, parent: Command): void {
  parent
    .command('port')
    .usage('CONTAINER [PRIVATE_PORT[/PROTO]]')
    .description('List port mappings or a specific mapping for the container')
    .argument('<container>')
    .argument('[privatePort]')
    .action(d.act(networkMod, (m) => ((cli: Cli, container: string, privatePort: string | undefined) => m.port(cli, container, privatePort))));
}
