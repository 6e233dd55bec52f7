/**
 * This node's traffic as the console shows it, counted cheaply on the hot paths and
 * read once a second:
 * - open WebSocket upgrades on `/app/…` (one listener on the HTTP server's `upgrade`);
 * - Bayeux requests in flight (held long-polls) and REST requests started (one
 *   prefix check per HTTP request);
 * - channel messages by door (the record's origin) and local deliveries (the channel's
 *   local subscriber count), from one message tap. Every node receives every message,
 *   so the message counts of any node are the whole cluster's publishes; deliveries are
 *   this node's and are summed over nodes by the overview.
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
  /** Channel messages seen (cluster-wide), by the door they came in through. */
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
  private readonly published: Record<Origin, number> = { rest: 0, ws: 0, bayeux: 0, console: 0, internal: 0 };
  private readonly untap: () => void;

  constructor(
    http: FastifyInstance,
    private readonly core: Core,
  ) {
    http.server.on('upgrade', (request, socket) => {
      if (!request.url?.startsWith(WS_PREFIX)) return;
      this.wsOpen++;
      socket.once('close', () => this.wsOpen--);
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
    return {
      wsOpen: this.wsOpen,
      bayeuxInFlight: this.bayeuxInFlight,
      restRequests: this.restRequests,
      published: { ...this.published },
      delivered: this.delivered,
    };
  }

  private readonly onMessage = (message: ChannelMessage): void => {
    const origin = message.record.origin;
    if (origin in this.published) this.published[origin]++;
    else this.published.internal++;
    this.delivered += this.core.hub.localCount(message.appId, message.channel);
  };
}
