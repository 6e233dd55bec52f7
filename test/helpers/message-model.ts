/**
 * Fixtures for the message-model tests (issue 4): an app config, a backend's
 * services, and a publisher, on memory or on any backend a test passes in.
 */
import type { Backend } from '../../src/backends/ports.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { AppConfig } from '../../src/config/schema.ts';
import { Annotations } from '../../src/core/annotations.ts';
import { ChannelHistory } from '../../src/core/history.ts';
import { VersionedMessages } from '../../src/core/messages.ts';
import { publishEvents } from '../../src/core/publish.ts';

/** An app with room for 20,000 messages per channel and no age limit. */
export function messageApp(history: Record<string, number> = {}, id = 'app-1', secret = 'app-secret'): AppConfig {
  const config = buildConfig({ apps: [{ id, key: `${id}-key`, secret, history: { maxCount: 20000, maxAgeSec: 0, ...history } }] });
  return config.apps[0]!;
}

export interface MessageServices {
  readonly history: ChannelHistory;
  readonly messages: VersionedMessages;
  readonly annotations: Annotations;
  publish(app: AppConfig, channel: string, data: string, name?: string): Promise<string>;
}

export function servicesOf(backend: Backend): MessageServices {
  return {
    history: new ChannelHistory(backend),
    messages: new VersionedMessages(backend),
    annotations: new Annotations(backend),
    async publish(app, channel, data, name = 'chat') {
      const groups = await publishEvents(backend.log, app, [{ name, channels: [channel], data, origin: 'rest' }]);
      return groups[0]![0]!.serial;
    },
  };
}

let counter = 0;
/** A channel name no other test uses. */
export const uniqueChannel = (base: string): string => `${base}-${process.pid}-${++counter}`;
