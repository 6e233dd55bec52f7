/**
 * The bot API's two cookies: sealing them at login and reading them back strictly.
 *
 *   API-Cookie = "!" <session id> "." <key id> "." <mac>        mac = HMAC-SHA256(secret, "API-Cookie|" id)
 *   API-Route  = "!" <node id, base64url> "." <key id> "." <mac> mac = HMAC-SHA256(secret, "API-Route|" node "|" id)
 *   key id     = the first 11 characters of base64url(HMAC-SHA256(secret, "API-Key-Id"))
 *
 * Every part is base64url, so a value holds only RFC 6265 cookie-octets (no quotes, commas,
 * semicolons, spaces or backslashes) and needs no escaping. The route is bound to its
 * session, so mixing cookies of two logins is detected. The key id names the secret (it
 * reveals nothing of it), so a cookie sealed by a secret this node does not have (another
 * cluster's, or one lost with the backend's data) is told apart from an altered one:
 * `RC_ERR_BOT_COOKIE_UNKNOWN_SECRET` rather than `RC_ERR_BOT_COOKIE_TAMPERED`.
 *
 * A seal signs with one secret and opens cookies sealed by any secret of its key ring,
 * chosen by the cookie's key id. With `config.bots.cookieSecret` the ring holds that one
 * secret; otherwise it holds the cluster's shared secrets (cookie-secret.ts).
 *
 * Reading follows RFC 6265 §4.2.1 (`cookie-string = cookie-pair *( ";" SP cookie-pair )`,
 * `cookie-value = *cookie-octet`): a quoted or URL-encoded value, a pair without "=", or
 * attributes sent back (`Version`, `$Version`, `Path`, `Expires`, …) are 400; a missing
 * API-Cookie or API-Route is 412. Only the separator's whitespace is lenient (the FAQ's
 * own example omits the SP after ";").
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createError } from '../../errors.ts';

export const SESSION_COOKIE = 'API-Cookie';
export const ROUTE_COOKIE = 'API-Route';

/** cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E (RFC 6265 §4.1.1). */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
/** token (RFC 2616 §2.2): the cookie-name. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Set-Cookie attribute names (RFC 6265, RFC 2965 `$` forms, and common extensions) that must never come back. */
const ATTRIBUTE_NAMES = new Set([
  'version', 'expires', 'max-age', 'domain', 'path', 'secure', 'httponly', 'samesite',
  'comment', 'commenturl', 'discard', 'port', 'priority', 'partitioned',
]);
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;
const SEALED = /^!([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]{11})\.([A-Za-z0-9_-]{43})$/;

/** What a verified Cookie header names. */
export interface OpenedCookies {
  readonly sessionId: string;
  readonly nodeId: string;
}

export interface CookieSeal {
  /** The two Set-Cookie header values for a new session issued by `nodeId`. */
  issue(sessionId: string, nodeId: string): [string, string];
  /** Reads and verifies the Cookie header; returns the session id (and the issuing node). Throws 400/412 errors. */
  open(header: string | undefined): OpenedCookies;
  /** How many verified cookie pairs are remembered (see MAX_VERIFIED_PAIRS). */
  readonly rememberedPairs: number;
}

/**
 * Cookie pairs already verified, so a polling bot's two HMACs are computed once, not on
 * every /meta/connect (the header is still parsed strictly every time). Keyed by the
 * exact API-Cookie and API-Route values: any other value, an altered one included, is
 * verified afresh; other cookies in the header do not make new entries. Bounded: past
 * it the oldest entry goes (a bot whose entry went is simply verified again).
 */
const MAX_VERIFIED_PAIRS = 10_000;

/** One secret, named by its key id. */
export interface CookieKey {
  /** The first 11 characters of base64url(HMAC-SHA256(secret, "API-Key-Id")): names the secret, reveals nothing of it. */
  readonly id: string;
  /** HMAC-SHA256(secret, text). */
  mac(text: string): Buffer;
}

/** The key of `secret` (UTF-8 text, or raw bytes). */
export function createCookieKey(secret: string | Buffer): CookieKey {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  const mac = (text: string): Buffer => createHmac('sha256', bytes).update(text, 'utf8').digest();
  return { id: mac('API-Key-Id').toString('base64url').slice(0, 11), mac };
}

/** The secrets a seal uses: one to seal with, any number to open with (the sealing one included). */
export interface CookieKeyRing {
  /** The key new cookies are sealed with. */
  readonly sealing: CookieKey;
  /** The key named `id`, if this ring has it. */
  find(id: string): CookieKey | undefined;
}

/**
 * A seal with a fixed secret (`configuredSecret`, or a random one: tests, and one process
 * on the memory backend), or over a key ring whose secrets may grow (cookie-secret.ts).
 */
export function createCookieSeal(secretOrRing: string | undefined | CookieKeyRing): CookieSeal {
  const ring = typeof secretOrRing === 'object' ? secretOrRing : fixedRing(createCookieKey(secretOrRing ?? randomBytes(32)));
  const seal = (body: string, context: string): string => {
    const key = ring.sealing;
    return `!${body}.${key.id}.${key.mac(context).toString('base64url')}`;
  };
  const verified = new Map<string, OpenedCookies>();

  /** The parts of one sealed value and its key; throws when it is not ours (malformed: altered; another key: unknown secret). */
  const partsOf = (value: string, name: string): [RegExpExecArray, CookieKey] => {
    const parts = SEALED.exec(value);
    if (parts === null) throw createError('RC_ERR_BOT_COOKIE_TAMPERED', name);
    const key = ring.find(parts[2]!);
    if (key === undefined) throw createError('RC_ERR_BOT_COOKIE_UNKNOWN_SECRET', name);
    return [parts, key];
  };

  const verify = (session: string, route: string): OpenedCookies => {
    const [sessionParts, sessionKey] = partsOf(session, SESSION_COOKIE);
    if (!sameMac(sessionParts[3]!, sessionKey.mac(`${SESSION_COOKIE}|${sessionParts[1]}`))) {
      throw createError('RC_ERR_BOT_COOKIE_TAMPERED', SESSION_COOKIE);
    }
    const sessionId = sessionParts[1]!;
    const [routeParts, routeKey] = partsOf(route, ROUTE_COOKIE);
    if (!sameMac(routeParts[3]!, routeKey.mac(`${ROUTE_COOKIE}|${routeParts[1]}|${sessionId}`))) {
      throw createError('RC_ERR_BOT_COOKIE_TAMPERED', ROUTE_COOKIE);
    }
    return { sessionId, nodeId: Buffer.from(routeParts[1]!, 'base64url').toString('utf8') };
  };

  return {
    issue(sessionId, nodeId) {
      const route = Buffer.from(nodeId, 'utf8').toString('base64url');
      return [
        `${SESSION_COOKIE}=${seal(sessionId, `${SESSION_COOKIE}|${sessionId}`)}; Version=1`,
        `${ROUTE_COOKIE}=${seal(route, `${ROUTE_COOKIE}|${route}|${sessionId}`)}; Version=1`,
      ];
    },
    open(header) {
      const cookies = parseCookieHeader(header ?? '');
      const session = cookies.get(SESSION_COOKIE);
      const route = cookies.get(ROUTE_COOKIE);
      if (session === undefined && route === undefined) throw createError('RC_ERR_BOT_COOKIE_MISSING', `${SESSION_COOKIE} (and ${ROUTE_COOKIE})`);
      if (session === undefined) throw createError('RC_ERR_BOT_COOKIE_MISSING', SESSION_COOKIE);
      if (route === undefined) throw createError('RC_ERR_BOT_COOKIE_MISSING', ROUTE_COOKIE);
      // A space never appears in a cookie-octet, so it separates the two values unambiguously.
      const key = `${session} ${route}`;
      const known = verified.get(key);
      if (known !== undefined) return known;
      const opened = verify(session, route);
      if (verified.size >= MAX_VERIFIED_PAIRS) verified.delete(verified.keys().next().value!);
      verified.set(key, opened);
      return opened;
    },
    get rememberedPairs() {
      return verified.size;
    },
  };
}

/** A ring of one key, sealing and opening alike. */
function fixedRing(key: CookieKey): CookieKeyRing {
  return { sealing: key, find: (id) => (id === key.id ? key : undefined) };
}

/**
 * Compares the MAC as the exact text we issued, not as decoded bytes: base64url decoding
 * ignores the spare low bits of the last character (43 characters carry 258 bits for 256),
 * so a cookie whose last character was changed would otherwise still verify.
 */
function sameMac(given: string, expected: Buffer): boolean {
  const wanted = Buffer.from(expected.toString('base64url'), 'latin1');
  const sent = Buffer.from(given, 'latin1');
  return sent.length === wanted.length && timingSafeEqual(sent, wanted);
}

/**
 * Parses a Cookie header strictly (RFC 6265 §4.2.1) into name → value. Other cookies
 * (e.g. a load balancer's) are allowed when well-formed; ours may appear once.
 */
export function parseCookieHeader(header: string): Map<string, string> {
  const cookies = new Map<string, string>();
  const text = header.trim();
  if (text === '') return cookies;
  for (const pair of text.split(/;[ \t]*/)) {
    const equals = pair.indexOf('=');
    if (equals <= 0) {
      const name = pair.trim();
      if (name === '') throw createError('RC_ERR_BOT_COOKIE_MALFORMED', 'an empty cookie-pair (a stray ";")');
      if (ATTRIBUTE_NAMES.has(name.toLowerCase())) throw attributeSentBack(name);
      throw createError('RC_ERR_BOT_COOKIE_MALFORMED', `"${clip(name)}" is not a name=value pair`);
    }
    const name = pair.slice(0, equals);
    const value = pair.slice(equals + 1);
    if (!COOKIE_NAME.test(name)) throw createError('RC_ERR_BOT_COOKIE_MALFORMED', `cookie name "${clip(name)}" is not an RFC 6265 token`);
    const bare = name.startsWith('$') ? name.slice(1) : name;
    if (ATTRIBUTE_NAMES.has(bare.toLowerCase())) throw attributeSentBack(name);
    const ours = name === SESSION_COOKIE || name === ROUTE_COOKIE;
    if (value.startsWith('"')) {
      throw createError('RC_ERR_BOT_COOKIE_MALFORMED', `cookie ${clip(name)} is quoted; send the value without quotes`);
    }
    if (!COOKIE_VALUE.test(value)) {
      throw createError('RC_ERR_BOT_COOKIE_MALFORMED', `cookie ${clip(name)} has characters outside RFC 6265 cookie-octets`);
    }
    if (ours && PERCENT_ESCAPE.test(value)) {
      throw createError('RC_ERR_BOT_COOKIE_MALFORMED', `cookie ${name} is URL-encoded; send the value exactly as it was set`);
    }
    if (ours && cookies.has(name)) throw createError('RC_ERR_BOT_COOKIE_MALFORMED', `cookie ${name} is sent twice`);
    if (!cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

function attributeSentBack(name: string) {
  return createError('RC_ERR_BOT_COOKIE_MALFORMED', `cookie attribute "${clip(name)}" was sent back; send only name=value pairs`);
}

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
