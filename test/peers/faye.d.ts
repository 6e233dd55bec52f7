/** The few parts of the `faye` npm client (no published types) that the peer tests use. */
declare module 'faye' {
  interface Subscription extends PromiseLike<void> {
    cancel(): void;
  }
  interface Publication extends PromiseLike<void> {}
  interface Extension {
    incoming?(message: Record<string, unknown>, callback: (message: Record<string, unknown>) => void): void;
    outgoing?(message: Record<string, unknown>, callback: (message: Record<string, unknown>) => void): void;
  }
  class Client {
    constructor(endpoint: string, options?: { timeout?: number; retry?: number });
    setHeader(name: string, value: string): void;
    disable(feature: string): void;
    addExtension(extension: Extension): void;
    subscribe(channel: string, callback: (message: unknown) => void): Subscription;
    publish(channel: string, data: unknown): Publication;
    disconnect(): void;
    on(event: 'transport:down' | 'transport:up', callback: () => void): void;
  }
  const faye: { Client: typeof Client; logger?: unknown };
  export default faye;
}
