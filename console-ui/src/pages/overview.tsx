import { useState } from 'preact/hooks';
import { useStream } from '../api.ts';
import { Empty, ErrorNote, LiveIndicator, Maybe, Stat, TableScroll } from '../components.tsx';
import { bytes, duration, rate } from '../format.ts';
import { href } from '../router.ts';

interface NodeView {
  node: string;
  incarnation: string;
  version: string;
  startedAt: number;
  heartbeatAgeMs: number;
  self: boolean;
  connections: { ws: number; bayeuxLongPolls: number };
  deliveriesPerSec: number;
  restRequestsPerSec: number;
  backend: { ok: boolean; latencyMs: number | null; error?: string };
  memoryRssBytes: number;
  eventLoopDelayP99Ms: number;
}

interface Overview {
  generatedAt: number;
  backend: { driver: string; ok: boolean; latencyMs: number | null; error?: string };
  nodes: NodeView[];
  totals: { connections: { ws: number; bayeuxLongPolls: number }; publishesPerSec: Record<string, number>; deliveriesPerSec: number };
  queues: { push: number | null; webhooks: number | null };
  apps: { id: string; enabled: boolean; occupiedChannels: number; subscriptions: number }[];
  error?: { code: string; message: string };
}

const DOORS = ['rest', 'ws', 'bayeux', 'console'] as const;

export function OverviewPage() {
  const [data, setData] = useState<Overview | null>(null);
  const state = useStream('overview/stream', { overview: setData });

  return (
    <>
      <div class="page-head">
        <h1>Overview</h1>
        <LiveIndicator state={state} />
      </div>
      {data === null && <p aria-busy="true">Waiting for the first figures…</p>}
      {data?.error !== undefined && <ErrorNote error={new Error(`${data.error.code}: ${data.error.message}`)} />}
      {data !== null && data.error === undefined && <OverviewBody data={data} />}
    </>
  );
}

function OverviewBody({ data }: { data: Overview }) {
  const publishes = Object.values(data.totals.publishesPerSec).reduce((sum, n) => sum + n, 0);
  return (
    <>
      <section aria-labelledby="cluster-h" class="card">
        <h2 id="cluster-h">Cluster</h2>
        <dl class="stats">
          <Stat label="Nodes" value={data.nodes.length} />
          <Stat
            label={`Backend (${data.backend.driver})`}
            value={data.backend.ok ? <span class="ok">healthy</span> : <span class="bad">unreachable</span>}
            hint={data.backend.latencyMs !== null ? `${data.backend.latencyMs} ms round trip` : data.backend.error}
          />
          <Stat label="WebSocket connections" value={data.totals.connections.ws} />
          <Stat label="Bayeux long-polls held" value={data.totals.connections.bayeuxLongPolls} />
          <Stat label="Publishes / s" value={rate(publishes)} />
          <Stat label="Deliveries / s" value={rate(data.totals.deliveriesPerSec)} />
          <Stat label="Push queue" value={<Maybe value={data.queues.push} />} />
          <Stat label="Webhook queue" value={<Maybe value={data.queues.webhooks} />} />
        </dl>
      </section>

      <section aria-labelledby="doors-h" class="card">
        <h2 id="doors-h">Publishes per second by door</h2>
        <dl class="stats">
          {DOORS.map((door) => (
            <Stat key={door} label={door} value={rate(data.totals.publishesPerSec[door] ?? 0)} />
          ))}
        </dl>
      </section>

      <section aria-labelledby="nodes-h">
        <h2 id="nodes-h">Nodes</h2>
        {data.nodes.length === 0 ? (
          <Empty title="No node has reported yet.">Nodes report within two seconds of a console opening this page; if none appears, check each node's logs and backend connection.</Empty>
        ) : (
          <TableScroll label="Nodes">
            <table>
              <thead>
                <tr>
                  <th scope="col">Node</th>
                  <th scope="col">Incarnation</th>
                  <th scope="col">Version</th>
                  <th scope="col">Heartbeat age</th>
                  <th scope="col">Uptime</th>
                  <th scope="col">WebSockets</th>
                  <th scope="col">Long-polls</th>
                  <th scope="col">Deliveries / s</th>
                  <th scope="col">REST req / s</th>
                  <th scope="col">Backend latency</th>
                  <th scope="col">Memory</th>
                  <th scope="col">Loop p99</th>
                </tr>
              </thead>
              <tbody>
                {data.nodes.map((node) => (
                  <tr key={node.node}>
                    <th scope="row">
                      {node.node}
                      {node.self && <span class="badge">this page</span>}
                    </th>
                    <td><code>{node.incarnation}</code></td>
                    <td>{node.version}</td>
                    <td class={node.heartbeatAgeMs > 5000 ? 'bad' : undefined}>{duration(node.heartbeatAgeMs)}</td>
                    <td>{duration(data.generatedAt - node.startedAt)}</td>
                    <td>{node.connections.ws}</td>
                    <td>{node.connections.bayeuxLongPolls}</td>
                    <td>{rate(node.deliveriesPerSec)}</td>
                    <td>{rate(node.restRequestsPerSec)}</td>
                    <td>{node.backend.ok ? `${node.backend.latencyMs} ms` : <span class="bad">{node.backend.error ?? 'down'}</span>}</td>
                    <td>{bytes(node.memoryRssBytes)}</td>
                    <td>{node.eventLoopDelayP99Ms} ms</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
      </section>

      <section aria-labelledby="apps-h">
        <h2 id="apps-h">Apps</h2>
        <TableScroll label="Apps">
          <table>
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">State</th>
                <th scope="col">Occupied channels</th>
                <th scope="col">Subscriptions</th>
              </tr>
            </thead>
            <tbody>
              {data.apps.map((app) => (
                <tr key={app.id}>
                  <th scope="row">
                    <a href={href({ page: 'channels', app: app.id })}>{app.id}</a>
                  </th>
                  <td>{app.enabled ? 'enabled' : 'disabled'}</td>
                  <td>{app.occupiedChannels}</td>
                  <td>{app.subscriptions}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      </section>
    </>
  );
}
