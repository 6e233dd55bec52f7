/**
 * A TCP proxy in front of a test redis-server that freezes a node at one chosen command:
 * once armed, the first client→server chunk that `match`es is forwarded (or, with
 * `hold`, held back itself), and from then on nothing any client sends through the proxy
 * reaches Redis, on any connection, while replies still flow back. So the chosen write is
 * stored and answered (or never sent), and everything the node sends after it is held
 * back, however fast the node is: a real-process way to kill a node at an exact step
 * (right after an append, after a claim, before a settle) without hooks in the server.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface FreezingProxy {
  readonly url: string;
  /** True once the matching command went through (or was held); everything sent since is held back. */
  readonly frozen: boolean;
  /** Starts looking for the matching command (everything before is forwarded). */
  arm(): void;
  close(): Promise<void>;
}

export interface FreezingOptions {
  /** The command to freeze at: a text its chunk contains, or a test of the chunk. */
  readonly match: string | ((chunk: Buffer) => boolean);
  /** Hold back the matching chunk itself too (default: forward it, then freeze). */
  readonly hold?: boolean;
}

export async function freezingProxy(port: number, options: FreezingOptions): Promise<FreezingProxy> {
  const { match } = options;
  const matches = typeof match === 'string' ? (chunk: Buffer) => chunk.includes(match) : match;
  const sockets = new Set<Socket>();
  let armed = false;
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      if (frozen) return;
      const hit = armed && matches(chunk);
      if (hit) frozen = true;
      if (!hit || options.hold !== true) upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${address.port}`,
    get frozen() {
      return frozen;
    },
    arm() {
      armed = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
