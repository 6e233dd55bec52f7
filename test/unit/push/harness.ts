/**
 * A push service on the memory backend with a scripted provider and no running workers:
 * a test drives the expand and device jobs itself (attempt numbers included), so it can
 * replay what the queue does after a stall or a crash without waiting on timers.
 */
import { EventEmitter, once } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import type { Backend, JobOutcome } from '../../../src/backends/ports.ts';
import type { AppConfig } from '../../../src/config/schema.ts';
import { Core } from '../../../src/core/core.ts';
import { jobIds } from '../../../src/push/keys.ts';
import type { DeliveryResult, PushProvider, SendRequest } from '../../../src/push/providers/types.ts';
import { PushService } from '../../../src/push/service.ts';
import type { DeviceJob, ExpandJob } from '../../../src/push/types.ts';
import type { DeliveryOutcome } from '../../../src/push/worker.ts';
import { testConfig } from '../../helpers/app.ts';

/** Answers each send with the next scripted answer (default: delivered) and tells listeners. */
export class ScriptedProvider extends EventEmitter implements PushProvider {
  readonly calls: SendRequest[] = [];
  private readonly answers: (() => Promise<DeliveryResult>)[] = [];

  /** Queues answers for the next sends, in order. */
  script(...answers: (DeliveryResult | (() => Promise<DeliveryResult>))[]): void {
    for (const answer of answers) this.answers.push(typeof answer === 'function' ? answer : () => Promise.resolve(answer));
  }

  /** Resolves with the request of the next send. */
  async nextCall(): Promise<SendRequest> {
    const [request] = (await once(this, 'send')) as [SendRequest];
    return request;
  }

  async send(request: SendRequest): Promise<DeliveryResult> {
    this.calls.push(request);
    const answer = this.answers.shift();
    this.emit('send', request);
    return answer === undefined ? { kind: 'delivered' } : answer();
  }

  async close(): Promise<void> {}
}

export interface Harness {
  readonly push: PushService;
  readonly core: Core;
  readonly app: AppConfig;
  readonly provider: ScriptedProvider;
  /** Every outcome the worker reported (metrics hook). */
  readonly outcomes: DeliveryOutcome[];
  /** Registers an APNs device (credentials are stored by `startHarness`). */
  device(deviceId: string): Promise<void>;
  /** Runs the publish's expand job once, as a worker would. */
  expand(publishId: string): Promise<void>;
  /** Runs one device job as the given attempt, as a worker would. */
  deliver(publishId: string, deviceId: string, attempt: number): Promise<JobOutcome>;
  close(): Promise<void>;
}

export async function startHarness(push: Record<string, unknown> = {}, backendOf: (memory: Backend) => Backend = (memory) => memory): Promise<Harness> {
  const config = testConfig({ push });
  const logger = pino({ level: 'silent' });
  const memory = createMemoryBackend();
  const backend = backendOf(memory);
  const core = new Core({ config, backend, logger, nodeId: 'unit' });
  const provider = new ScriptedProvider();
  const service = new PushService({ core, logger, providers: { apns: provider, fcm: provider, web: provider } });
  const outcomes: DeliveryOutcome[] = [];
  service.observeDeliveries((_platform, outcome) => outcomes.push(outcome));
  const app = core.apps.requireEnabled('app-1');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await service.credentials.add(app.id, {
    platform: 'apns',
    key_id: 'ABC123DEFG',
    team_id: 'DEF123GHIJ',
    topic: 'com.example.app',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  });
  let token = 0;
  return {
    push: service,
    core,
    app,
    provider,
    outcomes,
    async device(deviceId) {
      await service.devices.register(app.id, { device_id: deviceId, platform: 'apns', provider_token: (++token).toString(16).padStart(64, 'a') });
    },
    async expand(publishId) {
      const job: ExpandJob = { kind: 'expand', appId: app.id, publishId };
      await service.worker.handle({ id: jobIds.expand(app.id, publishId), data: JSON.stringify(job), attempt: 1 });
    },
    deliver(publishId, deviceId, attempt) {
      const job: DeviceJob = { kind: 'device', appId: app.id, publishId, deviceId };
      return service.worker.handle({ id: jobIds.device(app.id, publishId, deviceId), data: JSON.stringify(job), attempt });
    },
    async close() {
      await service.close();
      await backend.close();
    },
  };
}
