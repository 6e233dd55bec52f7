/**
 * Display names (and bot-ness) of the people a door's bots see, so one person has one
 * name on every event: the presence `user_info` they joined with, or the name a sender
 * carries. Owned by one Bayeux door (node-local, bounded); a name not known on this node
 * shows as the user id.
 */

/** Names remembered per door; past it the least recently used is forgotten (a few hundred bytes each). */
const MAX_NAMES = 20_000;

/** The name a presence `user_info` gives (`name`, else `displayName`), if any. */
export function nameInInfo(info: unknown): string | undefined {
  if (info === null || typeof info !== 'object') return undefined;
  const { name, displayName } = info as { name?: unknown; displayName?: unknown };
  if (typeof name === 'string' && name !== '') return name;
  return typeof displayName === 'string' && displayName !== '' ? displayName : undefined;
}

/** Is this presence `user_info` a bot's (see registry.ts: `{bot: true, senderType: "API"}`)? */
export function isBotInfo(info: unknown): boolean {
  return info !== null && typeof info === 'object' && ((info as { bot?: unknown }).bot === true || (info as { senderType?: unknown }).senderType === 'API');
}

/**
 * Display names (and whether the user is a bot) by app and user id, learned from presence
 * `user_info` and from senders that carry a name. Node-local and bounded: a name not known
 * here shows as the user id.
 */
export class DisplayNames {
  private readonly people = new Map<string, { readonly name: string | undefined; readonly bot: boolean }>();

  learn(appId: string, userId: string, name: string | undefined, bot = false): void {
    const key = `${appId}\n${userId}`;
    const known = this.people.get(key);
    if (name === undefined && !bot) return;
    this.people.delete(key);
    this.people.set(key, { name: name ?? known?.name, bot: bot || known?.bot === true });
    if (this.people.size > MAX_NAMES) {
      const oldest = this.people.keys().next();
      if (oldest.done !== true) this.people.delete(oldest.value);
    }
  }

  get(appId: string, userId: string): string | undefined {
    return this.people.get(`${appId}\n${userId}`)?.name;
  }

  isBot(appId: string, userId: string): boolean {
    return this.people.get(`${appId}\n${userId}`)?.bot === true;
  }
}
