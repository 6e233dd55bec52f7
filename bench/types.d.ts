/**
 * Just enough typing for autocannon (no @types for this version); only the members bench/
 * calls. (faye's server side is typed where it is loaded, bench/peers/faye-server.ts, so as
 * not to clash with the client typing in test/peers/faye.d.ts.)
 */
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
