/**
 * Operator queries over the signed REST API and `/stats`. Channel counts and presence
 * come from the backend, so they cover every node of a cluster.
 *
 *   channels [--prefix P]     GET /apps/{id}/channels
 *   channel NAME              GET /apps/{id}/channels/{name}
 *   users NAME                GET /apps/{id}/channels/{name}/users
 *   stats                     GET /stats (unsigned)
 */
import type { Command } from 'commander';
import { print, requireCredentials, resolveTarget, type GlobalOptions } from '../context.ts';
import { expectOk, plainGet, signedSend } from '../http.ts';

const enc = encodeURIComponent;

export function registerQueries(program: Command): void {
  program
    .command('channels')
    .description('list occupied channels with their subscription counts (every node)')
    .option('--prefix <prefix>', 'only channels whose name starts with this (presence- adds user counts)')
    .action(async (options: { prefix?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const credentials = requireCredentials(resolveTarget(globals));
      const info = options.prefix?.startsWith('presence-') === true ? 'subscription_count,user_count' : 'subscription_count';
      const query = new URLSearchParams({ info, ...(options.prefix === undefined ? {} : { filter_by_prefix: options.prefix }) });
      const body = expectOk(await signedSend(credentials, 'GET', `/apps/${enc(credentials.appId)}/channels?${query}`)) as {
        channels: Record<string, { subscription_count?: number; user_count?: number }>;
      };
      print(globals, body, (value: typeof body) => {
        const names = Object.keys(value.channels).sort();
        if (names.length === 0) return 'no occupied channels';
        return names
          .map((name) => {
            const entry = value.channels[name]!;
            return `${name}\t${entry.subscription_count ?? 0} subscriptions${entry.user_count === undefined ? '' : `\t${entry.user_count} users`}`;
          })
          .join('\n');
      });
    });

  program
    .command('channel')
    .description("one channel's state: occupied, subscription count, user count (presence)")
    .argument('<name>', 'channel name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const credentials = requireCredentials(resolveTarget(globals));
      const info = name.startsWith('presence-') ? 'subscription_count,user_count' : 'subscription_count';
      const body = expectOk(await signedSend(credentials, 'GET', `/apps/${enc(credentials.appId)}/channels/${enc(name)}?info=${info}`)) as Record<string, unknown>;
      print(globals, { channel: name, ...body }, (value: Record<string, unknown>) =>
        Object.entries(value)
          .map(([key, entry]) => `${key}: ${String(entry)}`)
          .join('\n'),
      );
    });

  program
    .command('users')
    .description('the users present on a presence channel (every node)')
    .argument('<name>', 'presence channel name')
    .action(async (name: string, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const credentials = requireCredentials(resolveTarget(globals));
      const body = expectOk(await signedSend(credentials, 'GET', `/apps/${enc(credentials.appId)}/channels/${enc(name)}/users`)) as { users: { id: string }[] };
      print(globals, body, (value: typeof body) => (value.users.length === 0 ? 'no users' : value.users.map((user) => user.id).join('\n')));
    });

  program
    .command('stats')
    .description("this node's /stats: node id, config hash, uptime, memory, per-app channel counts")
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const body = expectOk(await plainGet(resolveTarget(globals), '/stats')) as Record<string, unknown>;
      print(globals, body, (value: { node: string; config_hash?: string; uptime_sec: number; memory_rss_bytes: number; apps: { id: string; enabled: boolean; occupied_channels: number; subscriptions: number }[] }) =>
        [
          `node ${value.node}  config ${value.config_hash ?? '?'}  up ${value.uptime_sec} s  rss ${Math.round(value.memory_rss_bytes / 1048576)} MiB`,
          ...value.apps.map((app) => `app ${app.id}${app.enabled ? '' : ' (disabled)'}: ${app.occupied_channels} channels, ${app.subscriptions} subscriptions`),
        ].join('\n'),
      );
    });
}
