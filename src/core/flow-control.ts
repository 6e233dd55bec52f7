/**
 * The cluster-wide limits one node enforces on what enters it: connection quotas
 * (quotas.ts), REST request rates (rates.ts) and publisher backpressure
 * (backpressure.ts), built together because they share the backend's `QuotaStore` and
 * one holder id per node incarnation.
 *
 * Ownership: every figure this node contributes (connection leases, request blocks, its
 * delivery lag) is stored under `quotas.holder`, this incarnation's id, and expires with
 * the heartbeat TTL when the node stops renewing it. Without a `QuotaStore` (the memory
 * backend) each limit applies to this node alone.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { QuotaStore } from '../backends/ports.ts';
import { Backpressure } from './backpressure.ts';
import type { DeliveryFigures } from './bus-turns.ts';
import { ConnectionQuotas } from './quotas.ts';
import { RequestRates } from './rates.ts';
import type { SignalSender } from './signals.ts';

export interface FlowControl {
  readonly quotas: ConnectionQuotas;
  readonly rates: RequestRates;
  readonly backpressure: Backpressure;
}

export interface FlowControlOptions {
  readonly store: QuotaStore | undefined;
  /** The config at start; settings marked reloadable are read through `config()` at use. */
  readonly initial: Config;
  readonly config: () => Config;
  readonly nodeId: () => string;
  readonly sendSignal: SignalSender;
  /** This node's bus work per event-loop turn, for the delivery-lag measure (bus-turns.ts). */
  readonly delivery: DeliveryFigures;
  /** True while this node's bus subscription is down (its publishes are refused with RC_ERR_BACKEND_BUS_DOWN). */
  readonly offBus: () => boolean;
  readonly logger: Logger;
}

export function createFlowControl(options: FlowControlOptions): FlowControl {
  const { store, initial, config, logger } = options;
  const quotas = new ConnectionQuotas({
    store,
    nodeId: options.nodeId,
    ttlMs: initial.node.heartbeatTtlMs,
    fullWaitMs: initial.quotas.reclaimWaitMs,
    leaseBlock: initial.quotas.connectionLeaseBlock,
    sendSignal: options.sendSignal,
    logger,
  });
  const rates = new RequestRates(store, () => config().quotas.restLeaseBlock);
  const backpressure = new Backpressure({
    store,
    holder: quotas.holder,
    maxLagMs: () => config().backpressure.maxLagMs,
    intervalMs: initial.backpressure.reportIntervalMs,
    countSilentNodes: initial.backpressure.countSilentNodes,
    ttlMs: initial.node.heartbeatTtlMs,
    delivery: options.delivery,
    offBus: options.offBus,
    logger,
  });
  return { quotas, rates, backpressure };
}
