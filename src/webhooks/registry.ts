/**
 * Which webhook service serves a core, for the REST routes (doors reach the core, not
 * app.ts). Kept apart from service.ts so a door can look the service up without loading
 * the webhook machinery: app.ts loads it only when some app has an endpoint.
 */
import type { WebhookService } from './service.ts';

const services = new WeakMap<object, WebhookService>();

/** Makes a service reachable from what the doors hold (the core). */
export function registerWebhooks(owner: object, service: WebhookService): void {
  services.set(owner, service);
}

/** The webhook service of a core, or null when the app was built without one. */
export function webhooksOf(owner: object): WebhookService | null {
  return services.get(owner) ?? null;
}
