/**
 * Notification templates: a title and body (each a string or a map locale → string)
 * and optional data, with `{{placeholders}}` filled from `template_data` at publish.
 * Every locale is rendered at admission, so a missing placeholder is a 400 for the
 * caller, never a broken notification on a phone.
 */
import type { HashStore } from '../backends/ports.ts';
import { createError } from '../errors.ts';
import { asBody, field, optionalString, requiredId, type Body } from './fields.ts';
import { pushKeys } from './keys.ts';
import type { Notification } from './types.ts';

export interface Template {
  readonly templateId: string;
  /** locale → text; `''` is the default text. */
  readonly title: Readonly<Record<string, string>>;
  readonly body: Readonly<Record<string, string>>;
  readonly data: Readonly<Record<string, string>>;
  /** Locale used when a device's locale has no text. */
  readonly defaultLocale: string;
  readonly createdAt: number;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]{1,64})\s*\}\}/g;
const LOCALE = /^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$/;
const MAX_TEMPLATE_TEXT = 4096;

export class TemplateStore {
  constructor(
    private readonly hashes: HashStore,
    private readonly now: () => number = Date.now,
  ) {}

  async create(appId: string, raw: unknown): Promise<Template> {
    const body = asBody(raw, 'the template');
    const templateId = requiredId(body, 'template_id');
    const title = localisedOf(body, 'title');
    const text = localisedOf(body, 'body');
    if (Object.keys(title).length === 0 && Object.keys(text).length === 0) {
      throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'a template needs title or body');
    }
    const data = stringMapOf(field(body, 'data'), 'data');
    const defaultLocale = optionalString(body, 'default_locale', 35) ?? '';
    const template: Template = { templateId, title, body: text, data, defaultLocale, createdAt: this.now() };
    await this.hashes.set(pushKeys.templates(appId), templateId, JSON.stringify(template));
    return template;
  }

  async get(appId: string, templateId: string): Promise<Template> {
    const text = await this.hashes.get(pushKeys.templates(appId), templateId);
    if (text === null) throw createError('RC_ERR_PUSH_TEMPLATE_NOT_FOUND', JSON.stringify(templateId));
    return JSON.parse(text) as Template;
  }

  async list(appId: string): Promise<Template[]> {
    const all = await this.hashes.getAll(pushKeys.templates(appId));
    return [...all.values()].map((text) => JSON.parse(text) as Template).sort((a, b) => a.templateId.localeCompare(b.templateId));
  }

  async remove(appId: string, templateId: string): Promise<void> {
    if (!(await this.hashes.remove(pushKeys.templates(appId), templateId))) {
      throw createError('RC_ERR_PUSH_TEMPLATE_NOT_FOUND', JSON.stringify(templateId));
    }
  }
}

/**
 * Renders every locale of a template. The result maps locale → notification; `''` is
 * the fallback for devices whose locale the template lacks.
 *
 * Example: title `{ en: 'Hi {{name}}', fr: 'Salut {{name}}' }`, default_locale `en`,
 * data `{ name: 'Ada' }` → `{ '': {title:'Hi Ada'}, en: {title:'Hi Ada'}, fr: {title:'Salut Ada'} }`.
 */
export function renderTemplate(template: Template, values: Readonly<Record<string, unknown>>): Record<string, Notification> {
  const fill = (text: string): string =>
    text.replace(PLACEHOLDER, (_, name: string) => {
      const value = Object.hasOwn(values, name) ? values[name] : undefined;
      if (value === undefined || value === null || typeof value === 'object') {
        throw createError('RC_ERR_PUSH_TEMPLATE_PLACEHOLDER', JSON.stringify(template.templateId), name);
      }
      return String(value);
    });
  const data: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, text] of Object.entries(template.data)) data[key] = fill(text);
  const locales = new Set([...Object.keys(template.title), ...Object.keys(template.body)]);
  const out: Record<string, Notification> = {};
  const pick = (texts: Readonly<Record<string, string>>, locale: string): string | undefined =>
    texts[locale] ?? texts[template.defaultLocale] ?? texts[''] ?? Object.values(texts)[0];
  for (const locale of locales) {
    const title = pick(template.title, locale);
    const body = pick(template.body, locale);
    out[locale] = {
      ...(title === undefined ? {} : { title: fill(title) }),
      ...(body === undefined ? {} : { body: fill(body) }),
      ...(Object.keys(data).length === 0 ? {} : { data }),
    };
  }
  if (out[''] === undefined) out[''] = out[template.defaultLocale] ?? Object.values(out)[0]!;
  return out;
}

function localisedOf(body: Body, name: string): Record<string, string> {
  const value = field(body, name);
  if (value === undefined || value === null) return {};
  if (typeof value === 'string') {
    if (value.length > MAX_TEMPLATE_TEXT) throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${name} is longer than ${MAX_TEMPLATE_TEXT} characters`);
    return { '': value };
  }
  const map = asBody(value, name);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [locale, text] of Object.entries(map)) {
    if (!LOCALE.test(locale)) throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${name}: ${JSON.stringify(locale)} is not a locale tag like en or pt-BR`);
    if (typeof text !== 'string' || text.length > MAX_TEMPLATE_TEXT) {
      throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${name}.${locale} must be a string of at most ${MAX_TEMPLATE_TEXT} characters`);
    }
    out[locale] = text;
  }
  return out;
}

/** A flat map of strings (FCM data must be strings); numbers and booleans are converted. */
export function stringMapOf(value: unknown, name: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  const map = asBody(value, name);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, item] of Object.entries(map)) {
    if (typeof item === 'string') out[key] = item;
    else if (typeof item === 'number' || typeof item === 'boolean') out[key] = String(item);
    else out[key] = JSON.stringify(item);
  }
  return out;
}
