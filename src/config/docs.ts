/**
 * Renders docs/configuration.md from the schema's field list (fields.ts). The page is
 * generated, never edited by hand: `npm run docs:config` writes it, and a test checks
 * that the file on disk is what this renders.
 */
import { CONFIG_FIELDS, type ConfigField } from './fields.ts';

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function defaultOf(field: ConfigField): string {
  if (field.default === undefined) return field.required ? 'required' : '—';
  if (field.section && typeof field.default === 'object') return '—';
  return `\`${JSON.stringify(field.default)}\``;
}

function bounds(field: ConfigField): string {
  const parts = [field.minimum === undefined ? null : `≥ ${field.minimum}`, field.maximum === undefined ? null : `≤ ${field.maximum}`].filter((part) => part !== null);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

/** The whole page. */
export function renderConfigurationDoc(): string {
  const sections = new Map<string, ConfigField[]>();
  for (const field of CONFIG_FIELDS) {
    const top = field.path.split(/[.[]/)[0]!;
    if (!sections.has(top)) sections.set(top, []);
    sections.get(top)!.push(field);
  }
  const out: string[] = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; do not edit by hand (a test compares). -->',
    '',
    'roomcast reads one JSON file: `config/default.json`, or the file named by `ROOMCAST_CONFIG` (`roomcast serve --config FILE`).',
    'Every field below is optional unless it says *required*; absent fields take their default. Environment variables',
    'override the file: each setting outside an array has a `ROOMCAST_…` variable named after its path, and a few have a',
    'short alias (`PORT`, `HOST`, `LOG_LEVEL`, `REDIS_URL`); the `ROOMCAST_…` name wins over the alias. Numbers and',
    '`true`/`false` are converted; lists are comma-separated.',
    '',
    'Check a file before using it: `roomcast config check FILE` prints the effective config (secrets masked) and its hash,',
    'or every problem with the documentation of the field below. `SIGHUP` or `roomcast config reload` applies a changed',
    'file without a restart (see [operations.md](operations.md#reload-without-restart)).',
    '',
  ];
  for (const [top, fields] of sections) {
    const head = fields[0]!;
    out.push(`## \`${top}\``, '', head.description, '');
    out.push('| field | type | default | unit | env | description |', '|---|---|---|---|---|---|');
    for (const field of fields) {
      if (field === head && head.section) continue;
      const env = field.env.length === 0 ? '—' : field.env.map((name) => `\`${name}\``).join(', ');
      out.push(`| \`${field.path}\` | ${cell(field.type)}${bounds(field)} | ${cell(defaultOf(field))} | ${field.unit ?? '—'} | ${env} | ${cell(field.description)} |`);
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
