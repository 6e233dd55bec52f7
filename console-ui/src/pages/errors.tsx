import { useEffect, useState } from 'preact/hooks';
import catalogue from 'virtual:errors-catalogue';
import { api, ApiError } from '../api.ts';
import { Empty, ErrorNote, TableScroll } from '../components.tsx';
import { dateTime } from '../format.ts';
import { href } from '../router.ts';

interface RequestRecord {
  requestId: string;
  node: string;
  time: number;
  method: string;
  path: string;
  status: number;
  code: string | null;
  message: string | null;
}

export function ErrorsPage(props: { code: string | null }) {
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const rows = needle === '' ? catalogue : catalogue.filter((row) => Object.values(row).some((cell) => cell.toLowerCase().includes(needle)));

  // A linked code (#/errors/RC_ERR_…) is scrolled to and focused.
  useEffect(() => {
    if (props.code === null) return;
    const row = document.getElementById(props.code);
    row?.scrollIntoView({ block: 'center' });
    row?.focus();
  }, [props.code]);

  return (
    <>
      <h1>Errors</h1>
      <RequestLookup />
      <section aria-labelledby="catalogue-h">
        <h2 id="catalogue-h">Status-code catalogue</h2>
        <div class="toolbar">
          <div class="field inline">
            <label for="catalogue-filter">Search codes</label>
            <input id="catalogue-filter" type="search" placeholder="RC_ERR_…, 401, token" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
          </div>
          <span class="muted" role="status">{rows.length} of {catalogue.length} codes</span>
        </div>
        {rows.length === 0 ? (
          <Empty title="No code matches.">Try a number (401), a word from the message, or clear the search.</Empty>
        ) : (
          <TableScroll label="Error codes">
            <table class="catalogue">
              <thead>
                <tr>
                  <th scope="col">Code</th>
                  <th scope="col">Status</th>
                  <th scope="col">Meaning</th>
                  <th scope="col">Common causes</th>
                  <th scope="col">Fix</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.code} id={row.code} tabIndex={-1} class={row.code === props.code ? 'target' : undefined}>
                    <th scope="row">
                      <a href={href({ page: 'errors', code: row.code })}>{row.code}</a>
                      <span class="muted small block">{row.area}</span>
                    </th>
                    <td>{row.status}</td>
                    <td>{row.meaning}</td>
                    <td>{row.cause}</td>
                    <td>{row.fix}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableScroll>
        )}
      </section>
    </>
  );
}

function RequestLookup() {
  const [id, setId] = useState('');
  const [found, setFound] = useState<RequestRecord | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [recent, setRecent] = useState<RequestRecord[] | null>(null);

  useEffect(() => {
    api.get<{ items: RequestRecord[] }>('requests').then((reply) => setRecent(reply.items.slice(0, 20)), setError);
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    setFound(null);
    setMissing(false);
    setError(null);
    try {
      setFound(await api.get<RequestRecord>(`requests/${encodeURIComponent(id.trim())}`));
    } catch (thrown) {
      if (thrown instanceof ApiError && thrown.status === 404) setMissing(true);
      else setError(thrown);
    }
  };

  return (
    <section class="card" aria-labelledby="lookup-h">
      <h2 id="lookup-h">Find an error reply by request id</h2>
      <form class="toolbar" onSubmit={submit}>
        <div class="field inline">
          <label for="request-id">Request id</label>
          <input id="request-id" required pattern="[A-Za-z0-9._:\-]{1,64}" placeholder="3f9a1c0b7e2d-1a" value={id} onInput={(e) => setId(e.currentTarget.value)} />
        </div>
        <button type="submit">Find</button>
      </form>
      {missing && <p role="status">No error reply with that id in the last hour. Replies are kept for an hour, and only replies with status 400 or more.</p>}
      {error !== null && <ErrorNote error={error} action="Lookup" />}
      {found !== null && <RequestCard record={found} />}
      <h3>Recent error replies on this node</h3>
      {recent !== null && recent.length === 0 && <p class="muted">None since this node started.</p>}
      {recent !== null && recent.length > 0 && (
        <TableScroll label="Recent error replies">
          <table>
            <thead>
              <tr>
                <th scope="col">Request id</th>
                <th scope="col">Time</th>
                <th scope="col">Request</th>
                <th scope="col">Status</th>
                <th scope="col">Code</th>
              </tr>
            </thead>
            <tbody>
              {recent.map((r) => (
                <tr key={r.requestId}>
                  <th scope="row"><code>{r.requestId}</code></th>
                  <td>{dateTime(r.time)}</td>
                  <td><code class="clip">{r.method} {r.path}</code></td>
                  <td>{r.status}</td>
                  <td>{r.code === null ? '—' : <a href={href({ page: 'errors', code: r.code })}>{r.code}</a>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </section>
  );
}

function RequestCard({ record }: { record: RequestRecord }) {
  return (
    <dl class="request-card" aria-label="Error reply found">
      <dt>Request</dt>
      <dd><code>{record.method} {record.path}</code></dd>
      <dt>Answered</dt>
      <dd>{record.status} by node {record.node} at {dateTime(record.time)}</dd>
      <dt>Code</dt>
      <dd>{record.code === null ? '—' : <a href={href({ page: 'errors', code: record.code })}>{record.code}</a>}</dd>
      <dt>Message</dt>
      <dd>{record.message ?? '—'}</dd>
    </dl>
  );
}
