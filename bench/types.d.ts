/**
 * Just enough typing for the untyped packages the benchmarks use (no @types exist for
 * these versions); only the members bench/ calls.
 */
declare module 'faye' {
  import type { Server } from 'node:http';

  interface NodeAdapterOptions {
    mount?: string;
    /** Seconds a /meta/connect is held open. */
    timeout?: number;
  }
  class NodeAdapter {
    constructor(options: NodeAdapterOptions);
    attach(server: Server): void;
    close(): void;
  }
  const faye: { NodeAdapter: typeof NodeAdapter };
  export default faye;
}

declare module 'autocannon' {
  interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  }
  interface AutocannonOptions {
    url: string;
    connections?: number;
    pipelining?: number;
    duration?: number;
    requests?: AutocannonRequest[];
    headers?: Record<string, string>;
    timeout?: number;
  }
  interface Histo {
    average: number;
    mean: number;
    p50: number;
    p90: number;
    p99: number;
    max: number;
    total: number;
  }
  interface AutocannonResult {
    requests: Histo;
    latency: Histo;
    throughput: Histo;
    errors: number;
    timeouts: number;
    non2xx: number;
    duration: number;
    statusCodeStats?: Record<string, { count: number }>;
    '2xx': number;
  }
  function autocannon(options: AutocannonOptions): Promise<AutocannonResult>;
  export default autocannon;
}
