import { useState } from 'preact/hooks';
import { api, useStream } from '../api.ts';
import { Empty, ErrorNote, LiveIndicator, TableScroll } from '../components.tsx';
import { duration } from '../format.ts';
import { href } from '../router.ts';

interface SpaceView {
  id: string;
  app: string;
  running: boolean;
  epoch: number;
  rooms: { id: string; channel: string; members: { userId: string; userInfo: unknown }[] }[];
  bots: { id: string; displayName: string; lastLogin: { room: string; node: string; at: number; ageMs: number } | null }[];
}

/** A secret just issued: shown once, in the page only (never stored by the console). */
interface Revealed {
  what: string;
  value: string;
}

export function RoomsPage(props: { admin: boolean }) {
  const [spaces, setSpaces] = useState<SpaceView[] | { error: { code: string; message: string } } | null>(null);
  const state = useStream('spaces/stream', { spaces: setSpaces });
  const [revealed, setRevealed] = useState<Revealed | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  const act = async (label: string, path: string, body: unknown, reveal?: (reply: Record<string, string>) => Revealed | null) => {
    setError(null);
    setStatus(null);
    setRevealed(null);
    try {
      const reply = await api.post<Record<string, string>>(path, body);
      setStatus(`${label}: done.`);
      if (reveal !== undefined) setRevealed(reveal(reply));
    } catch (thrown) {
      setError(thrown);
    }
  };

  return (
    <>
      <div class="page-head">
        <h1>Rooms and spaces</h1>
        <LiveIndicator state={state} />
      </div>
      <p role="status" class="ok">{status}</p>
      {error !== null && <ErrorNote error={error} action="Action failed" />}
      {revealed !== null && (
        <div class="reveal" role="alert">
          <p>
            New {revealed.what}, shown only now (roomcast keeps only its digest):
          </p>
          <code class="secret">{revealed.value}</code>
          <button type="button" class="small" onClick={() => setRevealed(null)}>
            Hide
          </button>
        </div>
      )}
      {spaces === null && <p aria-busy="true">Loading spaces…</p>}
      {spaces !== null && !Array.isArray(spaces) && <ErrorNote error={new Error(`${spaces.error.code}: ${spaces.error.message}`)} />}
      {Array.isArray(spaces) && spaces.length === 0 && (
        <Empty title="No bot spaces are configured.">Spaces, rooms and bots are declared in the server config (spaces); see docs/bot-api.md.</Empty>
      )}
      {Array.isArray(spaces) &&
        spaces.map((space) => (
          <section key={space.id} class="card" aria-labelledby={`space-${space.id}`}>
            <div class="section-head">
              <h2 id={`space-${space.id}`}>
                Space {space.id} <span class={`badge ${space.running ? 'running' : 'stopped'}`}>{space.running ? 'running' : 'stopped'}</span>
              </h2>
              {props.admin && (
                <button
                  type="button"
                  class={space.running ? 'danger' : 'primary'}
                  onClick={() => void act(`${space.running ? 'Stop' : 'Start'} ${space.id}`, `spaces/${space.id}/${space.running ? 'stop' : 'start'}`, {})}
                >
                  {space.running ? 'Stop space' : 'Start space'}
                </button>
              )}
            </div>
            <p class="muted">App {space.app} · epoch {space.epoch} (a stop ends every bot session and bumps it)</p>
            <h3>Rooms</h3>
            <TableScroll label={`Rooms of ${space.id}`}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Room</th>
                    <th scope="col">Channel</th>
                    <th scope="col">Present</th>
                    {props.admin && <th scope="col">Room code</th>}
                  </tr>
                </thead>
                <tbody>
                  {space.rooms.map((room) => (
                    <tr key={room.id}>
                      <th scope="row">{room.id}</th>
                      <td>
                        <a href={href({ page: 'channel', app: space.app, channel: room.channel })}>{room.channel}</a>
                      </td>
                      <td>{room.members.length === 0 ? <span class="muted">nobody</span> : room.members.map((m) => m.userId).join(', ')}</td>
                      {props.admin && (
                        <td class="actions">
                          <button type="button" class="small" onClick={() => void act(`New code for ${room.id}`, `spaces/${space.id}/rooms/${room.id}/code`, { action: 'issue' }, (r) => (r.code ? { what: `room code for ${room.id}`, value: r.code } : null))}>
                            Issue code<span class="sr-only"> for {room.id}</span>
                          </button>
                          <button type="button" class="small danger" onClick={() => void act(`Expire code of ${room.id}`, `spaces/${space.id}/rooms/${room.id}/code`, { action: 'expire' })}>
                            Expire code<span class="sr-only"> of {room.id}</span>
                          </button>
                        </td>
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
            <h3>Bots</h3>
            {space.bots.length === 0 ? (
              <Empty title="No bots in this space." />
            ) : (
              <TableScroll label={`Bots of ${space.id}`}>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Bot</th>
                      <th scope="col">Name</th>
                      <th scope="col">Last login</th>
                      {props.admin && <th scope="col">API token</th>}
                    </tr>
                  </thead>
                  <tbody>
                    {space.bots.map((bot) => (
                      <tr key={bot.id} data-bot={bot.id}>
                        <th scope="row">{bot.id}</th>
                        <td>{bot.displayName}</td>
                        <td>
                          {bot.lastLogin === null ? (
                            <span class="muted">never seen</span>
                          ) : (
                            `${duration(bot.lastLogin.ageMs)} ago, room ${bot.lastLogin.room}, node ${bot.lastLogin.node}`
                          )}
                        </td>
                        {props.admin && (
                          <td class="actions">
                            <button type="button" class="small" onClick={() => void act(`New token for ${bot.id}`, `spaces/${space.id}/bots/${bot.id}/token`, { action: 'issue' }, (r) => (r.token ? { what: `API token for ${bot.id}`, value: r.token } : null))}>
                              Issue token<span class="sr-only"> for {bot.id}</span>
                            </button>
                            <button type="button" class="small danger" onClick={() => void act(`Expire token of ${bot.id}`, `spaces/${space.id}/bots/${bot.id}/token`, { action: 'expire' })}>
                              Expire token<span class="sr-only"> of {bot.id}</span>
                            </button>
                          </td>
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </TableScroll>
            )}
          </section>
        ))}
    </>
  );
}
