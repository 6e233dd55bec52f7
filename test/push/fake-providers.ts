/**
 * Local stand-ins for APNs, FCM (+ its OAuth token endpoint) and a Web Push service.
 * They check what the real services check (JWT signatures and claims, required
 * headers, payload encryption decryptable with the subscription's keys) and answer
 * with the real services' error bodies. A test scripts answers per device token.
 */
import { createDecipheriv, createECDH, generateKeyPairSync, hkdfSync, randomBytes, type ECDH, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, importJWK, jwtVerify, type JWTPayload } from 'jose';

/** A scripted answer: status, JSON body, extra headers. */
export interface Answer {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** Per-token answer scripts: each request takes the next answer; the last one repeats. */
class Script {
  private readonly scripts = new Map<string, Answer[]>();
  set(token: string, answers: Answer[]): void {
    this.scripts.set(token, [...answers]);
  }
  next(token: string, fallback: Answer): Answer {
    const list = this.scripts.get(token);
    if (list === undefined || list.length === 0) return fallback;
    return list.length > 1 ? list.shift()! : list[0]!;
  }
}

export interface Received {
  readonly token: string;
  readonly at: number;
  readonly payload: Record<string, unknown>;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** Waits until `predicate` holds, polling; fails after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// ---------------------------------------------------------------- APNs

export interface FakeApns {
  readonly url: string;
  readonly received: Received[];
  /** Every request, accepted or not. */
  readonly attempts: Received[];
  readonly script: Script;
  readonly keyId: string;
  readonly teamId: string;
  readonly topic: string;
  /** PKCS#8 PEM of the key the server trusts (what a `.p8` file holds). */
  readonly p8: string;
  close(): Promise<void>;
}

/** With `tls`, the server speaks HTTP/2 over TLS (ALPN h2) as APNs does; without, h2c. */
export async function startFakeApns(options: { tls?: { key: string; cert: string } } = {}): Promise<FakeApns> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyId = 'ABC123DEFG';
  const teamId = 'DEF123GHIJ';
  const topic = 'com.example.app';
  const received: Received[] = [];
  const attempts: Received[] = [];
  const script = new Script();
  const server = options.tls === undefined ? http2.createServer() : http2.createSecureServer({ key: options.tls.key, cert: options.tls.cert });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    // A client killed mid-request resets the connection; that is the scenario, not a fault.
    session.on('error', () => undefined);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      void (async () => {
        const reply = (status: number, body?: unknown, extra: Record<string, string> = {}): void => {
          stream.respond({ ':status': status, 'apns-id': String(headers['apns-id'] ?? ''), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra });
          stream.end(body === undefined ? undefined : JSON.stringify(body));
        };
        const path = String(headers[':path']);
        const match = /^\/3\/device\/([0-9a-fA-F]+)$/.exec(path);
        if (headers[':method'] !== 'POST' || match === null) return reply(405, { reason: 'MethodNotAllowed' });
        const token = match[1]!;
        let payload: Record<string, unknown>;
        try {
          payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return reply(400, { reason: 'PayloadEmpty' });
        }
        const record: Received = { token, at: Date.now(), payload, headers: { ...headers } };
        attempts.push(record);
        const authError = await checkApnsJwt(String(headers.authorization ?? ''), publicKey, keyId, teamId);
        if (authError !== null) return reply(403, { reason: authError });
        if (headers['apns-topic'] !== topic) return reply(400, { reason: headers['apns-topic'] === undefined ? 'MissingTopic' : 'DeviceTokenNotForTopic' });
        if (headers['apns-push-type'] !== 'alert') return reply(400, { reason: 'InvalidPushType' });
        if (headers['apns-priority'] !== '10' && headers['apns-priority'] !== '5') return reply(400, { reason: 'BadPriority' });
        if (typeof (payload.aps as Record<string, unknown> | undefined)?.alert !== 'object') return reply(400, { reason: 'PayloadEmpty' });
        const answer = script.next(token, { status: 200 });
        if (answer.status === 0) return; // scripted hang: the sender waits (a provider stall)
        if (answer.status === 200) received.push(record);
        return reply(answer.status, answer.body, answer.headers);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const p8 = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    received,
    attempts,
    script,
    keyId,
    teamId,
    topic,
    p8,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What APNs checks of a provider token; returns the APNs reason on failure. */
async function checkApnsJwt(authorization: string, publicKey: KeyObject, keyId: string, teamId: string): Promise<string | null> {
  const match = /^bearer (.+)$/.exec(authorization);
  if (match === null) return 'MissingProviderToken';
  try {
    const header = decodeProtectedHeader(match[1]!);
    if (header.alg !== 'ES256' || header.kid !== keyId) return 'InvalidProviderToken';
    const { payload } = await jwtVerify(match[1]!, publicKey, { algorithms: ['ES256'], issuer: teamId });
    const age = Date.now() / 1000 - Number(payload.iat);
    if (!(age > -60 && age < 3600)) return 'ExpiredProviderToken';
    return null;
  } catch {
    return 'InvalidProviderToken';
  }
}

// ---------------------------------------------------------------- FCM

export interface FakeFcm {
  readonly url: string;
  readonly tokenUri: string;
  readonly projectId: string;
  readonly received: Received[];
  readonly attempts: Received[];
  readonly script: Script;
  /** The service-account JSON the server trusts. */
  readonly serviceAccount: Record<string, string>;
  /** A service account whose key the token endpoint does not know. */
  readonly wrongServiceAccount: Record<string, string>;
  tokenRequests: number;
  /** The `aud` claim of every correctly signed assertion the token endpoint received. */
  readonly tokenAudiences: readonly string[];
  close(): Promise<void>;
}

export async function startFakeFcm(): Promise<FakeFcm> {
  const trusted = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const untrusted = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const projectId = 'demo-project';
  const clientEmail = 'push@demo-project.iam.gserviceaccount.com';
  const issued = new Set<string>();
  const received: Received[] = [];
  const attempts: Received[] = [];
  const script = new Script();
  const state = { tokenRequests: 0, audiences: [] as string[] };
  const server: Server = createServer((request, response) => {
    void handleFcm(request, response).catch(() => sendJson(response, 500, { error: { code: 500, status: 'INTERNAL' } }));
  });
  async function handleFcm(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const text = await readBody(request);
    if (request.url === '/token' && request.method === 'POST') {
      state.tokenRequests++;
      const form = new URLSearchParams(text);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
        return sendJson(response, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
      }
      let claims: JWTPayload;
      try {
        claims = (await jwtVerify(form.get('assertion') ?? '', trusted.publicKey, { algorithms: ['RS256'], issuer: clientEmail })).payload;
      } catch {
        return sendJson(response, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
      }
      state.audiences.push(String(claims.aud));
      // As an RFC 7523 (§3) token endpoint does: the assertion's audience must be this endpoint itself.
      if (claims.aud !== tokenUri) return sendJson(response, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Failed audience check.' });
      if (!String(claims.scope).split(' ').includes('https://www.googleapis.com/auth/firebase.messaging') || Number(claims.exp) - Number(claims.iat) > 3600) {
        return sendJson(response, 400, { error: 'invalid_scope', error_description: 'Invalid JWT: scope or lifetime.' });
      }
      const accessToken = `ya29.${randomBytes(16).toString('hex')}`;
      issued.add(accessToken);
      return sendJson(response, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
    }
    const match = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(request.url ?? '');
    if (match === null || request.method !== 'POST') return sendJson(response, 404, { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } });
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (bearer === undefined || !issued.has(bearer)) {
      return sendJson(response, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
    }
    if (match[1] !== projectId) return sendJson(response, 403, fcmError(403, 'PERMISSION_DENIED', 'SENDER_ID_MISMATCH'));
    const body = JSON.parse(text) as { message?: { token?: string; notification?: unknown } };
    const token = body.message?.token;
    if (typeof token !== 'string') return sendJson(response, 400, fcmError(400, 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'));
    const record: Received = { token, at: Date.now(), payload: body.message as Record<string, unknown>, headers: { ...request.headers } };
    attempts.push(record);
    const answer = script.next(token, { status: 200, body: { name: `projects/${projectId}/messages/${randomBytes(6).toString('hex')}` } });
    if (answer.status === 200) received.push(record);
    return sendJson(response, answer.status, answer.body, answer.headers);
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const tokenUri = `${url}/token`;
  const account = (key: KeyObject): Record<string, string> => ({
    type: 'service_account',
    project_id: projectId,
    private_key_id: 'key-1',
    private_key: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    token_uri: tokenUri,
  });
  return {
    url,
    tokenUri,
    projectId,
    received,
    attempts,
    script,
    serviceAccount: account(trusted.privateKey),
    wrongServiceAccount: account(untrusted.privateKey),
    get tokenRequests() {
      return state.tokenRequests;
    },
    tokenAudiences: state.audiences,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** FCM's documented error body with an FcmError detail. */
export function fcmError(code: number, status: string, errorCode: string): unknown {
  return {
    error: {
      code,
      message: `${errorCode.toLowerCase().replaceAll('_', ' ')}`,
      status,
      details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }],
    },
  };
}

// ---------------------------------------------------------------- Web Push

/** A browser-side subscription: the keys the push service never sees, and what it registers. */
export interface TestSubscription {
  readonly id: string;
  readonly ecdh: ECDH;
  readonly auth: Buffer;
  readonly json: { endpoint: string; keys: { p256dh: string; auth: string } };
}

export interface FakeWebPush {
  readonly url: string;
  readonly received: Received[];
  readonly attempts: Received[];
  readonly script: Script;
  /** The VAPID public key the app's credentials must use (set by the test after generating). */
  expectedVapidKey: string | null;
  subscription(id: string): TestSubscription;
  close(): Promise<void>;
}

export async function startFakeWebPush(): Promise<FakeWebPush> {
  const subscriptions = new Map<string, TestSubscription>();
  const received: Received[] = [];
  const attempts: Received[] = [];
  const script = new Script();
  let url = '';
  const fake: FakeWebPush = {
    url: '',
    received,
    attempts,
    script,
    expectedVapidKey: null,
    subscription(id: string): TestSubscription {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16);
      const sub: TestSubscription = {
        id,
        ecdh,
        auth,
        json: { endpoint: `${url}/push/${id}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } },
      };
      subscriptions.set(id, sub);
      return sub;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((request, response) => {
    void (async () => {
      const body = await readRaw(request);
      const id = /^\/push\/([^/]+)$/.exec(request.url ?? '')?.[1];
      const sub = id === undefined ? undefined : subscriptions.get(id);
      if (sub === undefined || request.method !== 'POST') return sendJson(response, 404, undefined);
      const vapidError = await checkVapid(request.headers.authorization ?? '', url, fake.expectedVapidKey);
      if (vapidError !== null) return sendJson(response, 403, { reason: vapidError });
      if (request.headers['content-encoding'] !== 'aes128gcm' || request.headers.ttl === undefined) return sendJson(response, 400, undefined);
      let payload: Record<string, unknown>;
      try {
        payload = JSON.parse(decryptAes128gcm(body, sub.ecdh, sub.auth).toString('utf8')) as Record<string, unknown>;
      } catch {
        return sendJson(response, 400, { reason: 'cannot decrypt' });
      }
      const record: Received = { token: sub.id, at: Date.now(), payload, headers: { ...request.headers } };
      attempts.push(record);
      const answer = script.next(sub.id, { status: 201 });
      if (answer.status === 201) received.push(record);
      return sendJson(response, answer.status, answer.body, { ...(answer.status === 201 ? { location: `${url}/msg/${randomBytes(4).toString('hex')}` } : {}), ...answer.headers });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  url = `http://127.0.0.1:${port}`;
  (fake as { url: string }).url = url;
  return fake;
}

/** Checks `Authorization: vapid t=<jwt>, k=<key>` as RFC 8292 says a push service does. */
async function checkVapid(header: string, origin: string, expectedKey: string | null): Promise<string | null> {
  const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header);
  if (match === null) return 'missing vapid authorization';
  const [, jwt, key] = match;
  if (expectedKey !== null && key !== expectedKey) return 'vapid key does not match the subscription';
  const raw = Buffer.from(key!, 'base64url');
  if (raw.length !== 65 || raw[0] !== 4) return 'vapid key is not an uncompressed P-256 point';
  try {
    const publicKey = await importJWK({ kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, 'ES256');
    const { payload } = await jwtVerify(jwt!, publicKey, { algorithms: ['ES256'], audience: origin });
    const now = Date.now() / 1000;
    if (!(Number(payload.exp) > now && Number(payload.exp) <= now + 86400 + 60)) return 'vapid exp must be within 24 hours';
    if (!/^(mailto:|https:)/.test(String(payload.sub))) return 'vapid sub must be mailto: or https:';
    return null;
  } catch (error) {
    return `vapid jwt rejected: ${(error as Error).message}`;
  }
}

/**
 * RFC 8291 + RFC 8188 decryption with the user agent's keys: the header carries the
 * salt, record size and the server's ephemeral public key; ECDH + HKDF give the key and
 * nonce; the single record ends with the 0x02 padding delimiter.
 */
export function decryptAes128gcm(body: Buffer, ecdh: ECDH, auth: Buffer): Buffer {
  const salt = body.subarray(0, 16);
  const idLength = body[20]!;
  const serverPublic = body.subarray(21, 21 + idLength);
  const record = body.subarray(21 + idLength);
  const shared = ecdh.computeSecret(serverPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), ecdh.getPublicKey(), serverPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', shared, auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  const plain = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 2) throw new Error('bad padding delimiter');
  return plain.subarray(0, end);
}

// ---------------------------------------------------------------- HTTP bits

function readRaw(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

async function readBody(request: IncomingMessage): Promise<string> {
  return (await readRaw(request)).toString('utf8');
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json; charset=UTF-8' }), ...headers });
  response.end(body === undefined ? undefined : JSON.stringify(body));
}
