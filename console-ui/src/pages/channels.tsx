import { useEffect, useState } from 'preact/hooks';
import { q, useStream } from '../api.ts';
import { Empty, ErrorNote, LiveIndicator, TableScroll } from '../components.tsx';
import { href } from '../router.ts';
import { AppPicker, useApps } from './app-picker.tsx';

interface ChannelRow {
  name: string;
  type: string;
  subscriptions: number;
  users: number | null;
}

export function ChannelsPage(props: { app: string | null }) {
  const apps = useApps();
  const app = props.app ?? apps?.[0]?.id ?? null;
  const [prefix, setPrefix] = useState('');
  const [applied, setApplied] = useState('');
  const [data, setData] = useState<{ channels: ChannelRow[]; total: number; error?: { code: string; message: string } } | null>(null);

  // The filter is applied a moment after typing stops, so each keystroke does not reopen the stream.
  useEffect(() => {
    const timer = setTimeout(() => setApplied(prefix.trim()), 300);
    return () => clearTimeout(timer);
  }, [prefix]);
  useEffect(() => setData(null), [app, applied]);

  const state = useStream(app === null ? null : `apps/${encodeURIComponent(app)}/channels/stream${q({ prefix: applied })}`, { channels: setData });

  return (
    <>
      <div class="page-head">
        <h1>Channels</h1>
        {app !== null && <LiveIndicator state={state} />}
      </div>
      <div class="toolbar">
        {apps !== null && app !== null && <AppPicker apps={apps} value={app} onChange={(next) => (location.hash = href({ page: 'channels', app: next }))} />}
        <div class="field inline">
          <label for="prefix">Name starts with</label>
          <input id="prefix" type="search" placeholder="presence-" value={prefix} onInput={(e) => setPrefix(e.currentTarget.value)} />
        </div>
      </div>
      {apps !== null && apps.length === 0 && <Empty title="No apps are configured.">Add an app to the server config's apps list.</Empty>}
      {data?.error !== undefined && <ErrorNote error={new Error(`${data.error.code}: ${data.error.message}`)} />}
      {app !== null && data !== null && data.error === undefined && (
        data.channels.length === 0 ? (
          <Empty title={applied === '' ? 'No occupied channels.' : `No occupied channel starts with “${applied}”.`}>
            A channel is listed while at least one connection (a WebSocket client or a bot) is subscribed to it. Open a client, or clear the filter.
          </Empty>
        ) : (
          <>
            <p class="muted">
              {data.total} occupied channel{data.total === 1 ? '' : 's'}
              {data.total > data.channels.length ? `, the first ${data.channels.length} shown` : ''}.
            </p>
            <TableScroll label="Occupied channels">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Channel</th>
                    <th scope="col">Type</th>
                    <th scope="col">Subscriptions</th>
                    <th scope="col">Users</th>
                  </tr>
                </thead>
                <tbody>
                  {data.channels.map((channel) => (
                    <tr key={channel.name}>
                      <th scope="row">
                        <a href={href({ page: 'channel', app, channel: channel.name })}>{channel.name}</a>
                      </th>
                      <td>{channel.type}</td>
                      <td>{channel.subscriptions}</td>
                      <td>{channel.users ?? '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          </>
        )
      )}
      {app !== null && data === null && <p aria-busy="true">Loading channels…</p>}
    </>
  );
}
