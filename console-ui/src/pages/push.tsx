import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, q } from '../api.ts';
import { Empty, ErrorNote, TableScroll } from '../components.tsx';
import { href } from '../router.ts';
import { AppPicker, useApps } from './app-picker.tsx';

interface Credential {
  platform: string;
  createdAt: string;
  fingerprint: string;
}
interface PublishView {
  publishId: string;
  recordedAt: number;
  status: { state: string; counters: Record<string, number>; created_at: string } | null;
}
interface Outcomes {
  status: { publish_id: string; state: string; counters: Record<string, number>; failure_reasons: Record<string, number> };
  devices: { deviceId: string; state: string; receipt: string | null }[];
}

export function PushPage(props: { app: string | null }) {
  const apps = useApps();
  const app = props.app ?? apps?.[0]?.id ?? null;
  const [credentials, setCredentials] = useState<Credential[] | null>(null);
  const [publishes, setPublishes] = useState<PublishView[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  const refresh = () => {
    if (app === null) return;
    setError(null);
    const root = `apps/${encodeURIComponent(app)}/push`;
    api.get<Credential[]>(`${root}/credentials`).then(setCredentials, setError);
    api.get<PublishView[]>(`${root}/publishes`).then(setPublishes, setError);
  };
  useEffect(refresh, [app]);

  const unavailable = error instanceof ApiError && error.code === 'RC_ERR_PUSH_UNAVAILABLE';
  return (
    <>
      <div class="page-head">
        <h1>Push</h1>
        <button type="button" onClick={refresh}>
          Refresh
        </button>
      </div>
      {apps !== null && app !== null && <AppPicker apps={apps} value={app} onChange={(next) => (location.hash = href({ page: 'push', app: next }))} />}
      {unavailable ? (
        <Empty title="Push is not available on this backend.">Push needs the backend's hashes and queues (memory or Redis); see docs/push.md.</Empty>
      ) : (
        <>
          {error !== null && <ErrorNote error={error} action="Push" />}
          <section class="card" aria-labelledby="cred-h">
            <h2 id="cred-h">Credentials</h2>
            {credentials !== null && credentials.length === 0 && (
              <Empty title="No provider credentials are stored.">Add APNs, FCM or Web Push credentials with POST /apps/{app}/push/credentials (docs/push.md).</Empty>
            )}
            {credentials !== null && credentials.length > 0 && (
              <ul>
                {credentials.map((c) => (
                  <li key={c.platform}>
                    <strong>{c.platform}</strong> present since {c.createdAt} · key fingerprint <code>{c.fingerprint}</code>
                  </li>
                ))}
              </ul>
            )}
          </section>
          {app !== null && <Search app={app} />}
          {app !== null && <Publishes app={app} publishes={publishes} />}
        </>
      )}
    </>
  );
}

function Search(props: { app: string }) {
  const [kind, setKind] = useState<'devices' | 'subscriptions'>('devices');
  const [field, setField] = useState('client_id');
  const [value, setValue] = useState('');
  const [items, setItems] = useState<Record<string, unknown>[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  const fields = kind === 'devices' ? ['client_id', 'device_id', 'platform'] : ['channel', 'client_id', 'device_id'];
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      const page = await api.get<{ items: Record<string, unknown>[] }>(`apps/${encodeURIComponent(props.app)}/push/${kind}${q({ [field]: value.trim() })}`);
      setItems(page.items);
    } catch (thrown) {
      setError(thrown);
    }
  };

  return (
    <section class="card" aria-labelledby="search-h">
      <h2 id="search-h">Devices and subscriptions</h2>
      <form class="toolbar" onSubmit={submit}>
        <div class="field inline">
          <label for="search-kind">Search</label>
          <select id="search-kind" value={kind} onChange={(e) => { const next = e.currentTarget.value as typeof kind; setKind(next); setField(next === 'devices' ? 'client_id' : 'channel'); setItems(null); }}>
            <option value="devices">devices</option>
            <option value="subscriptions">channel subscriptions</option>
          </select>
        </div>
        <div class="field inline">
          <label for="search-field">by</label>
          <select id="search-field" value={field} onChange={(e) => setField(e.currentTarget.value)}>
            {fields.map((f) => (
              <option key={f} value={f}>{f}</option>
            ))}
          </select>
        </div>
        <div class="field inline">
          <label for="search-value">value</label>
          <input id="search-value" type="search" placeholder="empty: list all" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
        </div>
        <button type="submit">Search</button>
      </form>
      {error !== null && <ErrorNote error={error} action="Search" />}
      {items !== null && items.length === 0 && <Empty title="Nothing found.">Devices register with POST /apps/{props.app}/push/deviceRegistrations.</Empty>}
      {items !== null && items.length > 0 && (
        <TableScroll label="Search results">
          <table>
            <thead>
              <tr>
                {Object.keys(items[0]!).map((key) => (
                  <th scope="col" key={key}>{key}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {items.map((item, index) => (
                <tr key={index}>
                  {Object.keys(items[0]!).map((key) => (
                    <td key={key}><code class="clip">{typeof item[key] === 'string' ? (item[key] as string) : JSON.stringify(item[key])}</code></td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </section>
  );
}

function Publishes(props: { app: string; publishes: PublishView[] | null }) {
  const [outcomes, setOutcomes] = useState<Outcomes | null>(null);
  const [error, setError] = useState<unknown>(null);
  const open = async (id: string) => {
    setError(null);
    try {
      setOutcomes(await api.get<Outcomes>(`apps/${encodeURIComponent(props.app)}/push/publishes/${encodeURIComponent(id)}`));
    } catch (thrown) {
      setError(thrown);
    }
  };
  return (
    <section class="card" aria-labelledby="pub-h">
      <h2 id="pub-h">Recent publishes</h2>
      {props.publishes !== null && props.publishes.length === 0 && (
        <Empty title="No publishes recorded yet.">Publishes admitted while the console runs (REST push/publish, and events with extras.push) are listed here.</Empty>
      )}
      {props.publishes !== null && props.publishes.length > 0 && (
        <TableScroll label="Recent publishes">
          <table>
            <thead>
              <tr>
                <th scope="col">Publish</th>
                <th scope="col">State</th>
                <th scope="col">Planned</th>
                <th scope="col">Succeeded</th>
                <th scope="col">Failed</th>
                <th scope="col">Devices</th>
              </tr>
            </thead>
            <tbody>
              {props.publishes.map((p) => (
                <tr key={p.publishId}>
                  <th scope="row"><code>{p.publishId}</code></th>
                  <td>{p.status?.state ?? <span class="muted">expired</span>}</td>
                  <td>{p.status?.counters.planned ?? '—'}</td>
                  <td>{p.status?.counters.succeeded ?? '—'}</td>
                  <td>{p.status?.counters.failed ?? '—'}</td>
                  <td>
                    <button type="button" class="small" onClick={() => void open(p.publishId)} disabled={p.status === null}>
                      Per device<span class="sr-only"> for {p.publishId}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {error !== null && <ErrorNote error={error} action="Publish status" />}
      {outcomes !== null && (
        <div class="detail">
          <h3>Publish {outcomes.status.publish_id}: {outcomes.status.state}</h3>
          {Object.keys(outcomes.status.failure_reasons).length > 0 && (
            <p>Failures: {Object.entries(outcomes.status.failure_reasons).map(([reason, n]) => `${reason} ×${n}`).join(', ')}</p>
          )}
          {outcomes.devices.length === 0 ? <p class="muted">No device was sent this publish (yet).</p> : (
            <ul>
              {outcomes.devices.map((d) => (
                <li key={d.deviceId}>
                  <code>{d.deviceId}</code> {d.state}{d.receipt !== null && ` · app receipt: ${d.receipt}`}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
