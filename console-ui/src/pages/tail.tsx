import { useMemo, useState } from 'preact/hooks';
import { DoorBadge, Empty } from '../components.tsx';
import { pretty, time } from '../format.ts';

export interface TailEvent {
  serial: string;
  time: number;
  door: string;
  action: string;
  name: string;
  data: string;
  truncated: boolean;
  sender?: string;
  userId?: string;
  messageSerial?: string;
}

export interface TailBatch {
  events: TailEvent[];
  skipped: number;
}

const KEEP = 200;

/** The live tail: events in serial order (newest last), pause/resume, filter. */
export function LiveTail(props: { batches: TailBatch[] }) {
  const [paused, setPaused] = useState<number | null>(null);
  const [filter, setFilter] = useState('');
  // While paused, the batches that arrived after the pause are held back (counted).
  const visibleBatches = paused === null ? props.batches : props.batches.slice(0, paused);
  const held = paused === null ? 0 : props.batches.slice(paused).reduce((n, batch) => n + batch.events.length, 0);
  const { events, skipped } = useMemo(() => {
    const all = visibleBatches.flatMap((batch) => batch.events).slice(-KEEP);
    return { events: all, skipped: visibleBatches.reduce((n, batch) => n + batch.skipped, 0) };
  }, [visibleBatches]);
  const needle = filter.trim().toLowerCase();
  const shown = needle === '' ? events : events.filter((e) => `${e.door} ${e.name} ${e.action} ${e.serial} ${e.data} ${e.sender ?? ''}`.toLowerCase().includes(needle));

  return (
    <section class="card" aria-labelledby="tail-h">
      <div class="section-head">
        <h2 id="tail-h">Live tail</h2>
        <div class="toolbar">
          <button type="button" aria-pressed={paused !== null} onClick={() => setPaused(paused === null ? props.batches.length : null)}>
            {paused === null ? 'Pause' : `Resume${held > 0 ? ` (${held} new)` : ''}`}
          </button>
          <div class="field inline">
            <label for="tail-filter">Filter</label>
            <input id="tail-filter" type="search" placeholder="event, door, text" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
          </div>
        </div>
      </div>
      {skipped > 0 && <p class="muted">{skipped} events skipped by sampling (the tail shows at most a fixed number per second).</p>}
      {shown.length === 0 ? (
        <Empty title={events.length === 0 ? 'No events yet.' : 'No event matches the filter.'}>
          {events.length === 0 ? 'Events published to this channel through any door appear here as they happen.' : 'Clear the filter to see every event.'}
        </Empty>
      ) : (
        <ol class="tail" aria-label="Channel events, oldest first">
          {shown.map((event) => (
            <TailRow key={event.serial} event={event} />
          ))}
        </ol>
      )}
    </section>
  );
}

function TailRow({ event }: { event: TailEvent }) {
  const payload = pretty(event.data);
  return (
    <li class="tail-event" data-door={event.door} data-event={event.name}>
      <div class="tail-line">
        <time dateTime={new Date(event.time).toISOString()}>{time(event.time)}</time>
        <DoorBadge door={event.door} />
        <code class="serial">{event.serial}</code>
        <strong class="event-name">{event.name}</strong>
        {event.action !== 'message.create' && <span class="badge">{event.action}</span>}
        {event.sender !== undefined && <span class="muted">{event.sender}</span>}
      </div>
      <details>
        <summary>Payload{payload.json ? ' (JSON)' : ''}{event.truncated ? ', cut at 4 KiB' : ''}</summary>
        <pre>{payload.text === '' ? '(empty)' : payload.text}</pre>
      </details>
    </li>
  );
}
