/** Starts roomcast with push pointed at local provider endpoints. */
import { startApp, TEST_APP, testConfig, type RunningApp } from '../helpers/app.ts';
import type { AppConfig } from '../../src/config/schema.ts';
import type { PushService } from '../../src/push/service.ts';
import type { PublishStatus } from '../../src/push/status.ts';
import { waitFor } from './fake-providers.ts';

export interface PushApp {
  readonly running: RunningApp;
  readonly push: PushService;
  readonly app: AppConfig;
  close(): Promise<void>;
  /** Waits until the publish's status satisfies `predicate` and returns it. */
  statusWhen(publishId: string, predicate: (status: PublishStatus) => boolean, timeoutMs?: number): Promise<PublishStatus>;
}

export async function startPushApp(push: Record<string, unknown>, redisUrl?: string, nodeId?: string): Promise<PushApp> {
  const config = testConfig({ push: { retryBaseMs: 50, retryMaxMs: 3000, maxAttempts: 3, concurrency: 4, webPushAllowHttp: true, ...push } }, redisUrl);
  return pushAppOf(await startApp(config, nodeId));
}

export function pushAppOf(running: RunningApp): PushApp {
  const push = running.app.push;
  if (push === null) throw new Error('push is not available on this backend');
  const app = running.app.core.apps.requireEnabled(TEST_APP.id);
  return {
    running,
    push,
    app,
    close: () => running.close(),
    async statusWhen(publishId, predicate, timeoutMs = 10_000) {
      let last: PublishStatus | null = null as PublishStatus | null;
      await waitFor(
        async () => {
          // A channel event's push is admitted asynchronously: not found yet is not a failure.
          last = await push.status(app.id, publishId).catch((error: { code?: string }) => {
            if (error.code === 'RC_ERR_PUSH_PUBLISH_NOT_FOUND') return null;
            throw error;
          });
          return last !== null && predicate(last);
        },
        timeoutMs,
        `publish ${publishId} status (last: ${JSON.stringify(last)})`,
      );
      return last!;
    },
  };
}

/** A 64-hex-digit APNs device token. */
export function apnsToken(n: number): string {
  return n.toString(16).padStart(64, 'a');
}
