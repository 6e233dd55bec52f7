import { useState } from 'preact/hooks';
import { api, q } from '../api.ts';
import { Empty, ErrorNote, TableScroll } from '../components.tsx';
import { dateTime, pretty } from '../format.ts';

const base = (app: string) => `apps/${encodeURIComponent(app)}/channel`;

export function PublishForm(props: { app: string; channel: string }) {
  const [name, setName] = useState('test-event');
  const [data, setData] = useState('{"hello":"from the console"}');
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const reply = await api.post<{ serial: string }>(`${base(props.app)}/events`, { channel: props.channel, name, data });
      setResult(`Published as serial ${reply.serial}.`);
    } catch (thrown) {
      setError(thrown);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="publish-h">
      <h2 id="publish-h">Publish a test event</h2>
      <form onSubmit={submit} class="stack">
        <label for="publish-name">Event name</label>
        <input id="publish-name" required maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="publish-data">Data (text or JSON)</label>
        <textarea id="publish-data" rows={4} value={data} onInput={(e) => setData(e.currentTarget.value)} />
        <div>
          <button type="submit" class="primary" disabled={busy}>
            Publish
          </button>
        </div>
        <p role="status" class="ok">
          {result}
        </p>
        {error !== null && <ErrorNote error={error} action="Publish failed" />}
      </form>
    </section>
  );
}

export function PurgeForm(props: { app: string; channel: string }) {
  const [open, setOpen] = useState(false);
  const [confirm, setConfirm] = useState('');
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      await api.post(`${base(props.app)}/purge`, { channel: props.channel, confirm });
      setResult('History purged. Serials keep counting, so old serials never come back.');
      setOpen(false);
      setConfirm('');
    } catch (thrown) {
      setError(thrown);
    }
  };

  return (
    <section class="card danger-zone" aria-labelledby="purge-h">
      <h2 id="purge-h">Purge history</h2>
      <p>Drops every retained message of this channel. Subscribers stay connected; recovery past the purge reports a gap.</p>
      {!open ? (
        <button type="button" class="danger" onClick={() => setOpen(true)}>
          Purge history…
        </button>
      ) : (
        <form onSubmit={submit} class="stack">
          <label for="purge-confirm">Type the channel name to confirm</label>
          <input id="purge-confirm" autocomplete="off" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
          <div class="toolbar">
            <button type="submit" class="danger" disabled={confirm !== props.channel}>
              Purge
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <p role="status" class="ok">
        {result}
      </p>
      {error !== null && <ErrorNote error={error} action="Purge failed" />}
    </section>
  );
}

interface HistoryItem {
  serial: string;
  action: string;
  name: string;
  data: string;
  timestamp: number;
  message_serial?: string;
}

interface MessageDetail {
  serial: string;
  supported: boolean;
  versions: { serial: string; action: string; timestamp: number; client_id?: string; description?: string }[];
  annotations: { serial: string; type: string; name?: string; client_id?: string; timestamp: number }[];
}

export function History(props: { app: string; channel: string }) {
  const [items, setItems] = useState<HistoryItem[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [detail, setDetail] = useState<MessageDetail | null>(null);

  const load = async (from: string | null) => {
    setError(null);
    try {
      const page = await api.get<{ items: HistoryItem[]; next_cursor: string | null }>(
        `${base(props.app)}/history${q({ name: props.channel, cursor: from ?? undefined })}`,
      );
      setItems((current) => (from === null ? page.items : [...(current ?? []), ...page.items]));
      setCursor(page.next_cursor);
    } catch (thrown) {
      setError(thrown);
    }
  };

  const open = async (serial: string) => {
    setError(null);
    try {
      setDetail(await api.get<MessageDetail>(`${base(props.app)}/message${q({ name: props.channel, serial })}`));
    } catch (thrown) {
      setError(thrown);
    }
  };

  return (
    <section class="card" aria-labelledby="history-h">
      <div class="section-head">
        <h2 id="history-h">History</h2>
        <button type="button" onClick={() => void load(null)}>
          {items === null ? 'Load history' : 'Reload'}
        </button>
      </div>
      {error !== null && <ErrorNote error={error} action="History" />}
      {items !== null && items.length === 0 && <Empty title="No retained messages.">Messages are kept per the app's history settings (count and age).</Empty>}
      {items !== null && items.length > 0 && (
        <TableScroll label="History, newest first">
          <table>
            <thead>
              <tr>
                <th scope="col">Serial</th>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Action</th>
                <th scope="col">Data</th>
                <th scope="col">Versions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <tr key={item.serial}>
                  <th scope="row"><code>{item.serial}</code></th>
                  <td>{dateTime(item.timestamp)}</td>
                  <td>{item.name}</td>
                  <td>{item.action}</td>
                  <td><code class="clip">{pretty(item.data).json ? item.data : item.data.slice(0, 120)}</code></td>
                  <td>
                    <button type="button" class="small" onClick={() => void open(item.message_serial ?? item.serial)}>
                      Versions and annotations<span class="sr-only"> of {item.serial}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {cursor !== null && items !== null && (
        <button type="button" onClick={() => void load(cursor)}>
          Older messages
        </button>
      )}
      {detail !== null && (
        <div class="detail" aria-live="polite">
          <h3>Message {detail.serial}</h3>
          {!detail.supported && <p class="muted">This backend keeps no versions or annotations.</p>}
          <h4>Versions</h4>
          {detail.versions.length === 0 ? <p class="muted">No versions are kept for it.</p> : (
            <ul>
              {detail.versions.map((v) => (
                <li key={v.serial}>
                  <code>{v.serial}</code> {v.action} · {dateTime(v.timestamp)}
                  {v.client_id !== undefined && ` · by ${v.client_id}`}
                  {v.description !== undefined && ` · “${v.description}”`}
                </li>
              ))}
            </ul>
          )}
          <h4>Annotations</h4>
          {detail.annotations.length === 0 ? <p class="muted">None.</p> : (
            <ul>
              {detail.annotations.map((a) => (
                <li key={a.serial}>
                  <code>{a.type}</code> {a.name ?? ''} {a.client_id !== undefined && `· ${a.client_id}`} · {dateTime(a.timestamp)}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
