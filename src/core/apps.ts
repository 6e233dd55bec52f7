/** The apps this server hosts, looked up by id (REST paths) or key (WebSocket paths, auth_key). */
import type { AppConfig } from '../config/schema.ts';
import { createError } from '../errors.ts';

export class AppRegistry {
  private readonly byId = new Map<string, AppConfig>();
  private readonly byKey = new Map<string, AppConfig>();

  constructor(apps: readonly AppConfig[]) {
    this.replace(apps);
  }

  /**
   * Swaps in a new list (a config reload). Lookups from then on see the new apps; a
   * request or connection that already holds an AppConfig keeps the one it resolved.
   */
  replace(apps: readonly AppConfig[]): void {
    this.byId.clear();
    this.byKey.clear();
    for (const app of apps) {
      this.byId.set(app.id, app);
      this.byKey.set(app.key, app);
    }
  }

  findById(id: string): AppConfig | undefined {
    return this.byId.get(id);
  }

  findByKey(key: string): AppConfig | undefined {
    return this.byKey.get(key);
  }

  /** The app, enabled; throws `RC_ERR_APP_NOT_FOUND` / `RC_ERR_APP_DISABLED` otherwise. */
  requireEnabled(id: string): AppConfig {
    const app = this.byId.get(id);
    if (app === undefined) throw createError('RC_ERR_APP_NOT_FOUND', id);
    if (!app.enabled) throw createError('RC_ERR_APP_DISABLED', id);
    return app;
  }

  all(): readonly AppConfig[] {
    return [...this.byId.values()];
  }
}
