/**
 * Channel subscriptions: a device, or every device of a client, subscribed to a channel.
 * Stored per channel (fast expansion at publish) and in one app-wide index (listing
 * by device or client).
 */
import type { HashStore } from '../backends/ports.ts';
import { channelNameProblem } from '../core/channels.ts';
import { createError } from '../errors.ts';
import type { DeviceRegistry } from './devices.ts';
import { asBody, optionalId, requiredString } from './fields.ts';
import { pushKeys } from './keys.ts';
import type { ChannelSubscription } from './types.ts';

export interface SubscriptionFilter {
  readonly channel?: string;
  readonly deviceId?: string;
  readonly clientId?: string;
}

export class SubscriptionRegistry {
  constructor(
    private readonly hashes: HashStore,
    private readonly devices: DeviceRegistry,
    private readonly maxChannelNameLength: number,
    private readonly now: () => number = Date.now,
  ) {
    devices.onRemoved = (appId, deviceId) => this.removeDevice(appId, deviceId);
  }

  /** `device_id` wins over `client_id` when both are given (the documented example sends both). */
  async subscribe(appId: string, raw: unknown): Promise<ChannelSubscription> {
    const body = asBody(raw, 'the channel subscription');
    const channel = this.channelOf(requiredString(body, 'channel', 1000));
    const deviceId = optionalId(body, 'device_id');
    const clientId = optionalId(body, 'client_id');
    if (deviceId === undefined && clientId === undefined) {
      throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'a channel subscription needs device_id or client_id');
    }
    if (deviceId !== undefined) await this.devices.get(appId, deviceId);
    const member = deviceId !== undefined ? `d:${deviceId}` : `c:${clientId!}`;
    const subscription: ChannelSubscription = {
      channel,
      ...(deviceId !== undefined ? { deviceId } : { clientId: clientId! }),
      createdAt: this.now(),
    };
    await this.hashes.set(pushKeys.channelSubs(appId, channel), member, JSON.stringify(subscription));
    await this.hashes.set(pushKeys.allSubs(appId), `${channel}\n${member}`, '1');
    if (deviceId !== undefined) await this.hashes.set(pushKeys.deviceSubs(appId, deviceId), channel, '1');
    return subscription;
  }

  /** Removes the subscription named by `channel` + `device_id` or `client_id`. */
  async unsubscribe(appId: string, raw: unknown): Promise<void> {
    const body = asBody(raw, 'the subscription filter');
    const channel = this.channelOf(requiredString(body, 'channel', 1000));
    const deviceId = optionalId(body, 'device_id');
    const clientId = optionalId(body, 'client_id');
    if (deviceId === undefined && clientId === undefined) {
      throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'deleting a channel subscription needs device_id or client_id');
    }
    const member = deviceId !== undefined ? `d:${deviceId}` : `c:${clientId!}`;
    const removed = await this.removeMember(appId, channel, member);
    if (deviceId !== undefined) await this.hashes.remove(pushKeys.deviceSubs(appId, deviceId), channel);
    if (!removed) throw createError('RC_ERR_PUSH_SUBSCRIPTION_NOT_FOUND', deviceId ?? clientId, JSON.stringify(channel));
  }

  /** Removes every channel subscription of a device (the device was deleted). */
  async removeDevice(appId: string, deviceId: string): Promise<void> {
    const channels = await this.hashes.getAll(pushKeys.deviceSubs(appId, deviceId));
    for (const channel of channels.keys()) await this.removeMember(appId, channel, `d:${deviceId}`);
    await this.hashes.drop(pushKeys.deviceSubs(appId, deviceId));
  }

  private async removeMember(appId: string, channel: string, member: string): Promise<boolean> {
    const removed = await this.hashes.remove(pushKeys.channelSubs(appId, channel), member);
    await this.hashes.remove(pushKeys.allSubs(appId), `${channel}\n${member}`);
    return removed;
  }

  /** A page of subscriptions matching the filter. */
  async list(appId: string, filter: SubscriptionFilter, cursor: string, limit: number): Promise<{ items: ChannelSubscription[]; cursor: string }> {
    if (filter.channel !== undefined) {
      const page = await this.hashes.scan(pushKeys.channelSubs(appId, this.channelOf(filter.channel)), cursor, limit);
      const items = page.entries.map(([, text]) => JSON.parse(text) as ChannelSubscription).filter((s) => matches(s, filter));
      return { items, cursor: page.cursor };
    }
    const page = await this.hashes.scan(pushKeys.allSubs(appId), cursor, limit);
    const items: ChannelSubscription[] = [];
    for (const [entry] of page.entries) {
      const split = entry.lastIndexOf('\n');
      const channel = entry.slice(0, split);
      const member = entry.slice(split + 1);
      const text = await this.hashes.get(pushKeys.channelSubs(appId, channel), member);
      if (text === null) continue;
      const subscription = JSON.parse(text) as ChannelSubscription;
      if (matches(subscription, filter)) items.push(subscription);
    }
    return { items, cursor: page.cursor };
  }

  /** Every device id a channel's subscriptions reach (client subscriptions expanded). */
  async deviceIdsOfChannel(appId: string, channel: string, into: Set<string>): Promise<void> {
    let cursor = '';
    do {
      const page = await this.hashes.scan(pushKeys.channelSubs(appId, channel), cursor, 1000);
      for (const [member] of page.entries) {
        if (member.startsWith('d:')) into.add(member.slice(2));
        else for (const id of await this.devices.idsOfClient(appId, member.slice(2))) into.add(id);
      }
      cursor = page.cursor;
    } while (cursor !== '');
  }

  private channelOf(channel: string): string {
    const problem = channelNameProblem(channel, this.maxChannelNameLength);
    if (problem !== null) throw createError('RC_ERR_CHANNEL_INVALID_NAME', JSON.stringify(channel), problem);
    return channel;
  }
}

function matches(subscription: ChannelSubscription, filter: SubscriptionFilter): boolean {
  if (filter.deviceId !== undefined && subscription.deviceId !== filter.deviceId) return false;
  if (filter.clientId !== undefined && subscription.clientId !== filter.clientId) return false;
  return true;
}
