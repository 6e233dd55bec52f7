/**
 * A TCP proxy in front of a test redis-server that freezes a node right after one chosen
 * command: once a client→server chunk containing `marker` has been forwarded, nothing more
 * a client sends through the proxy reaches Redis (on any of its connections), while
 * replies still flow back. So the chosen write is stored and answered, and everything the
 * node sends after it (the work that follows an append) is held back, however fast the
 * node is: a real-process way to kill a node "right after the append" deterministically.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface FreezingProxy {
  readonly url: string;
  /** True once the marked command went through (everything sent since is held back). */
  readonly frozen: boolean;
  /** Resolves when the marked command has been forwarded. */
  readonly froze: Promise<void>;
  close(): Promise<void>;
}

export async function freezingProxy(port: number, marker: string): Promise<FreezingProxy> {
  const needle = Buffer.from(marker);
  const sockets = new Set<Socket>();
  let frozen = false;
  let froze: () => void = () => undefined;
  const frozePromise = new Promise<void>((resolve) => (froze = resolve));
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      if (frozen) return;
      upstream.write(chunk);
      if (chunk.includes(needle)) {
        frozen = true;
        froze();
      }
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
    froze: frozePromise,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
