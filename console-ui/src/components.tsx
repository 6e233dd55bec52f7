// Building blocks shared by the pages: tables that scroll on small screens, empty and
// error states that say what to do next, stat tiles, door badges.
import type { ComponentChildren } from 'preact';
import { ApiError, type StreamState } from './api.ts';
import { href } from './router.ts';

/** A table that scrolls sideways on narrow screens; focusable so keyboard users can scroll it. */
export function TableScroll(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-scroll" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{props.title}</p>
      {props.children !== undefined && <p>{props.children}</p>}
    </div>
  );
}

/** An error from the server, with its code linked to the catalogue and its request id. */
export function ErrorNote(props: { error: unknown; action?: string }) {
  const error = props.error;
  if (error instanceof ApiError) {
    return (
      <div class="error-note" role="alert">
        <p>
          {props.action !== undefined ? `${props.action}: ` : ''}
          {error.message}
        </p>
        <p class="muted">
          <a href={href({ page: 'errors', code: error.code })}>{error.code}</a>
          {error.requestId !== null && <> · request id <code>{error.requestId}</code></>}
        </p>
      </div>
    );
  }
  return (
    <div class="error-note" role="alert">
      <p>{props.action !== undefined ? `${props.action}: ` : ''}{error instanceof Error ? error.message : String(error)}</p>
      <p class="muted">Check that the server is running, then reload the page.</p>
    </div>
  );
}

export function Stat(props: { label: string; value: ComponentChildren; hint?: string }) {
  return (
    <div class="stat">
      <dt>{props.label}</dt>
      <dd>
        {props.value}
        {props.hint !== undefined && <span class="stat-hint">{props.hint}</span>}
      </dd>
    </div>
  );
}

export function DoorBadge(props: { door: string }) {
  return <span class={`badge door-${props.door}`}>{props.door}</span>;
}

export function LiveIndicator(props: { state: StreamState }) {
  const text = props.state === 'live' ? 'live' : props.state === 'connecting' ? 'connecting…' : 'reconnecting…';
  return (
    <span class={`live live-${props.state}`} role="status">
      {text}
    </span>
  );
}

/** A figure nobody measures yet: say so rather than show a zero. */
export function Maybe(props: { value: number | null | undefined; render?: (n: number) => ComponentChildren }) {
  if (props.value === null || props.value === undefined) return <span class="muted">not reported</span>;
  return <>{props.render ? props.render(props.value) : props.value}</>;
}
