// Small formatting helpers shared by the pages.

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function rate(n: number): string {
  return n >= 100 ? String(Math.round(n)) : n.toFixed(1);
}

export function time(ms: number): string {
  const date = new Date(ms);
  return `${date.toLocaleTimeString(undefined, { hour12: false })}.${String(date.getMilliseconds()).padStart(3, '0')}`;
}

export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}

/** Pretty JSON when the text is JSON, else the text itself. */
export function pretty(text: string): { text: string; json: boolean } {
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object') return { text: JSON.stringify(value, null, 2), json: true };
  } catch {
    // not JSON
  }
  return { text, json: false };
}
