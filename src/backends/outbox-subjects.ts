/**
 * How both outbox stores name a subject in their indexes: `c\n{stream}` (channel),
 * `u\n{stream}\n{userId}` (member) or `n\n{stream}` (count). Stream keys and user ids
 * hold no line breaks (channel names and user ids are validated by the doors).
 */
import type { OutboxSubject } from './ports.ts';

export function subjectKey(subject: OutboxSubject): string {
  if (subject.kind === 'member') return `u\n${subject.stream}\n${subject.userId}`;
  return `${subject.kind === 'channel' ? 'c' : 'n'}\n${subject.stream}`;
}

export function parseSubjectKey(key: string): OutboxSubject {
  const [kind, stream = '', userId = ''] = key.split('\n');
  if (kind === 'u') return { kind: 'member', stream, userId };
  return { kind: kind === 'c' ? 'channel' : 'count', stream };
}
