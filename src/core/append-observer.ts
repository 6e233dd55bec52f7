/**
 * Sees every append this node makes to a channel's log: publishes (`log.append`,
 * `log.appendMany`) and message-model commits (`messages.commit`), through a view of the
 * backend whose log and message store report each stored entry after the store confirmed
 * it. The core hands this view to the modules that append, so none of them has to
 * remember to report; everything else passes through unchanged.
 */
import type { Backend, LogEntry } from '../backends/ports.ts';

export type AppendListener = (stream: string, entries: readonly LogEntry[]) => void;

/** The backend, with its log's and message store's appends reported to `listener`. */
export function observeAppends(backend: Backend, listener: AppendListener): Backend {
  const log = intercept(backend.log, {
    append: (original) => async (...args: unknown[]) => {
      const entry = (await original(...args)) as LogEntry;
      listener(args[0] as string, [entry]);
      return entry;
    },
    appendMany: (original) => async (...args: unknown[]) => {
      const entries = (await original(...args)) as LogEntry[];
      const items = args[0] as readonly { stream: string }[];
      entries.forEach((entry, index) => listener(items[index]!.stream, [entry]));
      return entries;
    },
  });
  const messages =
    backend.messages === undefined
      ? undefined
      : intercept(backend.messages, {
          commit: (original) => async (...args: unknown[]) => {
            const entries = (await original(...args)) as LogEntry[] | null;
            if (entries !== null) listener(args[0] as string, entries);
            return entries;
          },
        });
  return { ...backend, log, ...(messages === undefined ? {} : { messages }) };
}

type Wrapper = (original: (...args: unknown[]) => Promise<unknown>) => (...args: unknown[]) => Promise<unknown>;

/** A proxy of `target` whose named methods are wrapped; every other property is the target's own. */
function intercept<T extends object>(target: T, wrappers: Readonly<Record<string, Wrapper>>): T {
  const wrapped = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver) as unknown;
      if (typeof property !== 'string' || typeof value !== 'function') return value;
      const wrapper = wrappers[property];
      if (wrapper === undefined) return (value as (...args: unknown[]) => unknown).bind(object);
      let method = wrapped.get(property);
      if (method === undefined) {
        method = wrapper((value as (...args: unknown[]) => Promise<unknown>).bind(object));
        wrapped.set(property, method);
      }
      return method;
    },
  });
}
