/**
 * The push page's data, read from the push service's stores: devices and channel
 * subscriptions (search by client, device, platform or channel), the credentials
 * present per platform (platform, age and a fingerprint, never a value), and recent
 * publishes with their status and the outcome per device.
 *
 * Recent publishes: the push stores keep statuses by id only, so this node records the
 * id of every publish it admits through `POST /apps/{app}/push/publish`, and of every
 * channel event carrying `extras.push`, in the hash `console:push-recent:{app}` (id →
 * time), trimmed to the newest MAX_RECENT.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../core/core.ts';
import type { ChannelMessage } from '../../core/types.ts';
import { pushKeys } from '../../push/keys.ts';
import { channelPushId } from '../../push/publish.ts';
import type { PushService } from '../../push/service.ts';
import type { PublishStatus } from '../../push/status.ts';

const MAX_RECENT = 100;
const TRIM_EVERY = 20;
const PUBLISH_ROUTE = /^\/apps\/([^/?]+)\/push\/publish(?:\?|$)/;

const recentKey = (appId: string): string => `console:push-recent:${appId}`;

export interface DeviceOutcome {
  readonly deviceId: string;
  /** `delivered`, `retrying`, `sent` (no outcome yet) — plus the app's callback receipt, if any. */
  readonly state: 'delivered' | 'retrying' | 'sent';
  readonly receipt: string | null;
}

export interface PublishView {
  readonly publishId: string;
  readonly recordedAt: number;
  readonly status: PublishStatus | null;
}

export class PushSource {
  private writes = 0;
  private readonly hashes: NonNullable<Core['backend']['hashes']>;

  constructor(
    private readonly core: Core,
    private readonly push: PushService,
  ) {
    this.hashes = core.backend.hashes!;
  }

  /** Records publish ids admitted on this node (see the file comment). */
  observe(http: FastifyInstance): () => void {
    http.addHook('onSend', (request, reply, payload, done) => {
      if (request.method === 'POST' && (reply.statusCode === 200 || reply.statusCode === 202) && typeof payload === 'string') {
        const match = PUBLISH_ROUTE.exec(request.url);
        const id = match === null ? undefined : /"publish_id"\s*:\s*"([^"]{1,128})"/.exec(payload)?.[1];
        if (match !== null && id !== undefined) this.record(decodeURIComponent(match[1]!), id);
      }
      done(null, payload);
    });
    return this.core.tapMessages((message: ChannelMessage) => {
      const extras = message.record.extras;
      if (extras !== undefined && Object.hasOwn(extras, 'push')) this.record(message.appId, channelPushId(message.appId, message.channel, message.serial));
    });
  }

  devices(appId: string, filter: { clientId?: string; platform?: string; deviceId?: string }, cursor: string) {
    if (filter.deviceId !== undefined) {
      return this.push.devices.find(appId, filter.deviceId).then((device) => ({ items: device === null ? [] : [device], cursor: '' }));
    }
    return this.push.devices.list(appId, { clientId: filter.clientId, platform: filter.platform }, cursor, 50);
  }

  subscriptions(appId: string, filter: { channel?: string; deviceId?: string; clientId?: string }, cursor: string) {
    return this.push.subscriptions.list(appId, filter, cursor, 50);
  }

  /** Platforms with stored credentials: platform, when added, and a fingerprint of the key. */
  async credentials(appId: string): Promise<{ platform: string; createdAt: string; fingerprint: string }[]> {
    const listed = await this.push.credentials.list(appId);
    return listed.map((entry) => ({
      platform: String(entry.platform),
      createdAt: String(entry.created_at),
      fingerprint: String(entry.key_fingerprint),
    }));
  }

  /** The newest recorded publishes with their status (null once expired). */
  async recent(appId: string, limit = 25): Promise<PublishView[]> {
    const all = await this.hashes.getAll(recentKey(appId));
    const newest = [...all].map(([publishId, at]) => ({ publishId, recordedAt: Number(at) })).sort((a, b) => b.recordedAt - a.recordedAt);
    return Promise.all(
      newest.slice(0, limit).map(async (entry) => ({ ...entry, status: await this.push.status(appId, entry.publishId).catch(() => null) })),
    );
  }

  /** Per-device outcomes of one publish (the first 200 devices it was sent to). */
  async outcomes(appId: string, publishId: string): Promise<{ status: PublishStatus; devices: DeviceOutcome[] }> {
    const status = await this.push.status(appId, publishId);
    const [planned, delivered, retrying, receipts] = await Promise.all([
      this.hashes.scan(pushKeys.planned(appId, publishId), '', 200),
      this.hashes.getAll(pushKeys.delivered(appId, publishId)),
      this.hashes.getAll(pushKeys.retrying(appId, publishId)),
      this.hashes.getAll(pushKeys.receipts(appId, publishId)),
    ]);
    const devices = planned.entries.slice(0, 200).map(([deviceId]): DeviceOutcome => ({
      deviceId,
      state: delivered.has(deviceId) ? 'delivered' : retrying.has(deviceId) ? 'retrying' : 'sent',
      receipt: receipts.get(deviceId) ?? null,
    }));
    return { status, devices };
  }

  private record(appId: string, publishId: string): void {
    const key = recentKey(appId);
    void this.hashes.set(key, publishId, String(Date.now())).catch(() => undefined);
    if (++this.writes % TRIM_EVERY === 0) void this.trim(key).catch(() => undefined);
  }

  private async trim(key: string): Promise<void> {
    const all = [...(await this.hashes.getAll(key))].sort((a, b) => Number(b[1]) - Number(a[1]));
    for (const [publishId] of all.slice(MAX_RECENT)) await this.hashes.remove(key, publishId);
  }
}
