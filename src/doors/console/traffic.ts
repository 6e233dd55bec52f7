/**
 * This node's traffic as the console shows it, counted cheaply on the hot paths and
 * read once a second:
 * - open WebSocket upgrades on `/app/…` (one listener on the HTTP server's `upgrade`);
 * - Bayeux requests in flight (held long-polls) and REST requests started (one
 *   prefix check per HTTP request);
 * - channel messages this node published, by door (the core's publish counters: each
 *   publish is counted once, on the node that took it, so the overview sums them over
 *   nodes), and local deliveries (the channel's local subscriber count) from one message
 *   tap (a node receives only its subscribers' channels, so deliveries are summed too).
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../core/core.ts';
import type { ChannelMessage, Origin } from '../../core/types.ts';

/** Counters since start; rates come from differences between two readings. */
export interface TrafficTotals {
  /** WebSocket connections open now on this node. */
  readonly wsOpen: number;
  /** Bayeux HTTP requests in flight now on this node (mostly held /meta/connect long-polls). */
  readonly bayeuxInFlight: number;
  /** Signed REST requests received by this node. */
  readonly restRequests: number;
  /** Channel messages this node published (one per channel), by the door they came in through. */
  readonly published: Readonly<Record<Origin, number>>;
  /** Messages handed to this node's subscribers. */
  readonly delivered: number;
}

const BAYEUX_PREFIX = '/api/v1/bayeux';
const REST_PREFIX = '/apps/';
const WS_PREFIX = '/app/';

export class TrafficCounters {
  private wsOpen = 0;
  private bayeuxInFlight = 0;
  private restRequests = 0;
  private delivered = 0;
  private readonly untap: () => void;

  constructor(
    http: FastifyInstance,
    private readonly core: Core,
  ) {
    http.server.on('upgrade', (request, socket) => {
      if (!request.url?.startsWith(WS_PREFIX)) return;
      this.wsOpen++;
      // One listener shared by every socket (a node holds tens of thousands of idle ones).
      socket.on('close', this.onWsClose);
    });
    http.addHook('onRequest', (request, reply, done) => {
      const url = request.url;
      if (url.startsWith(BAYEUX_PREFIX)) {
        this.bayeuxInFlight++;
        reply.raw.once('close', () => this.bayeuxInFlight--);
      } else if (url.startsWith(REST_PREFIX)) {
        this.restRequests++;
      }
      done();
    });
    this.untap = core.tapMessages(this.onMessage);
    http.addHook('onClose', async () => this.untap());
  }

  read(): TrafficTotals {
    const published: Record<Origin, number> = { rest: 0, ws: 0, bayeux: 0, console: 0, internal: 0 };
    // Keys are `{appId}\n{door}`.
    for (const [key, count] of this.core.counters.published.entries()) {
      const door = key.slice(key.lastIndexOf('\n') + 1);
      if (door in published) published[door as Origin] += count;
      else published.internal += count;
    }
    return {
      wsOpen: this.wsOpen,
      bayeuxInFlight: this.bayeuxInFlight,
      restRequests: this.restRequests,
      published,
      delivered: this.delivered,
    };
  }

  private readonly onWsClose = (): void => {
    this.wsOpen--;
  };

  private readonly onMessage = (message: ChannelMessage): void => {
    this.delivered += this.core.hub.localCount(message.appId, message.channel);
  };
}
