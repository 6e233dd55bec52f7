/**
 * Storage keys of push state in the backend hashes and KV. One place, so the layout
 * is visible at a glance (the backend adds its own prefix).
 *
 *   push:dev:{app}              deviceId → Device JSON
 *   push:cdev:{app}:{client}    deviceId → '1'              (devices of a client)
 *   push:sub:{app}:{channel}    d:{device} | c:{client} → ChannelSubscription JSON
 *   push:subs:{app}             {channel}\n{d|c}:{id} → '1' (every subscription, for listing)
 *   push:dsubs:{app}:{device}   channel → '1'               (a device's channels, removed with the device)
 *   push:cred:{app}             platform → credentials JSON (secrets included; never listed raw)
 *   push:tpl:{app}              templateId → Template JSON
 *   push:pub:{app}:{publish}    body → StoredPublish JSON   (expires with the status)
 *   push:st:{app}:{publish}     status fields and counters  (expires)
 *   push:dlq:{app}              jobId → dead letter JSON
 *   push:done:{app}:{publish}   deviceId → '1'             (delivered: per-device dedupe; expires)
 *   push:retry:{app}:{publish}  deviceId → '1'             (a retry is scheduled and counted in `retrying`; expires)
 *   push:plan:{app}:{publish}   deviceId → '1'             (devices the publish was sent to: callbacks check it; expires)
 *   push:rcpt:{app}:{publish}   deviceId → receipt status  (the first delivery callback per device; expires)
 */
export const pushKeys = {
  devices: (app: string) => `push:dev:${app}`,
  clientDevices: (app: string, client: string) => `push:cdev:${app}:${client}`,
  channelSubs: (app: string, channel: string) => `push:sub:${app}:${channel}`,
  allSubs: (app: string) => `push:subs:${app}`,
  deviceSubs: (app: string, device: string) => `push:dsubs:${app}:${device}`,
  credentials: (app: string) => `push:cred:${app}`,
  templates: (app: string) => `push:tpl:${app}`,
  publish: (app: string, publishId: string) => `push:pub:${app}:${publishId}`,
  status: (app: string, publishId: string) => `push:st:${app}:${publishId}`,
  deadLetters: (app: string) => `push:dlq:${app}`,
  delivered: (app: string, publishId: string) => `push:done:${app}:${publishId}`,
  retrying: (app: string, publishId: string) => `push:retry:${app}:${publishId}`,
  planned: (app: string, publishId: string) => `push:plan:${app}:${publishId}`,
  receipts: (app: string, publishId: string) => `push:rcpt:${app}:${publishId}`,
} as const;

/** Queue job ids (BullMQ forbids `:` in custom ids). */
export const jobIds = {
  expand: (app: string, publishId: string) => `x|${app}|${publishId}`,
  device: (app: string, publishId: string, deviceId: string) => `d|${app}|${publishId}|${deviceId}`,
} as const;
