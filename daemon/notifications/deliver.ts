/**
 * One delivery of one event to one channel, whatever its kind. `deliver` never throws: it answers
 * `{ ok: true }` or `{ ok: false, error, retryable }`, and its error never holds a secret (a webhook is
 * named by its URL's origin, never its path, which for Teams and Slack is the secret).
 *
 * - Webhook: the rendered JSON body, sent with the channel's method, content type and headers through
 *   undici. 2xx is success; 408, 429, 5xx and network failures may be retried, any other answer not.
 *   With a signing secret the request is signed (see `signWebhookBody`).
 * - SMTP: one mail through nodemailer, a transport per delivery. A 4xx reply or a network failure may
 *   be retried; a 5xx reply, refused credentials or a TLS failure not.
 * - PowerShell: `pwsh -NoProfile -NonInteractive -File <script>`, with `{ "variables": ..., "event": ... }`
 *   as JSON on standard input. Exit code 0 and nothing on standard error is success; anything else,
 *   or still running after the time limit (it is then killed), is a failure that may be retried.
 */
import { spawn } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import type { Sealer } from '../store/sealing.js';
import type { DeepReadonly } from '../store/store.js';
import { channelSealingContext } from './channel-sealing.js';
import type { ChannelRecord, PowerShellChannelRecord, SmtpChannelRecord, WebhookChannelRecord } from '../store/records.js';
import { render, variablesFrom, type NotificationEvent, type VariableExtras } from './templates.js';

export type DeliveryResult = { ok: true } | { ok: false; error: string; retryable: boolean };

/** The time limit of one delivery, PowerShell's 10 s included. */
export const DEFAULT_DELIVERY_TIMEOUT_MS = 10_000;
export const DEFAULT_PWSH = 'pwsh';
export const TIMESTAMP_HEADER = 'X-Ams-Timestamp';
export const SIGNATURE_HEADER = 'X-Ams-Signature';
/** The same on every attempt of a queued delivery: receivers can drop duplicates. */
export const DELIVERY_ID_HEADER = 'X-Ams-Delivery-Id';

export interface DeliverOptions {
  sealer: Sealer;
  /** The outbound HTTP stack for webhooks (its CA settings apply); undici's global one when absent. */
  dispatcher?: Dispatcher;
  /** Default 10 s. */
  timeoutMs?: number;
  /** The PowerShell executable (`AMS_PWSH`); `pwsh` from the PATH when absent. */
  pwshPath?: string;
  /** Extra CA certificates (PEM) to trust for SMTP over TLS, besides the system roots. */
  smtpCa?: string | string[];
  /** Variables the event does not hold. */
  extra?: VariableExtras;
  /** Sent as X-Ams-Delivery-Id. */
  deliveryId?: string;
  userAgent?: string;
  now?: () => Date;
}

export async function deliver(channel: DeepReadonly<ChannelRecord>, event: NotificationEvent, options: DeliverOptions): Promise<DeliveryResult> {
  const result = await deliverUnredacted(channel, event, options);
  // The error is stored (queue.json, audit.jsonl) and shown (test answer, delivery and audit lists); a
  // receiver's error page may echo the request it got, the channel's secrets with it.
  return result.ok ? result : { ...result, error: redactSecrets(result.error, channelSecrets(channel, options.sealer)) };
}

async function deliverUnredacted(channel: DeepReadonly<ChannelRecord>, event: NotificationEvent, options: DeliverOptions): Promise<DeliveryResult> {
  try {
    switch (channel.kind) {
      case 'webhook':
        return await deliverWebhook(channel, event, options);
      case 'smtp':
        return await deliverMail(channel, event, options);
      case 'powershell':
        return await deliverToScript(channel, event, options);
    }
  } catch (error) {
    // Only what cannot go wrong with a channel that passed validation: a sealed value that no longer opens, a broken template.
    return { ok: false, error: `the channel cannot be used: ${(error as Error).message}`, retryable: false };
  }
}

// ---------------------------------------------------------------------------------------------------
// Redaction

/** Pieces of a secret shorter than this are not redacted alone (they would take out ordinary words). */
const MIN_SECRET_PIECE = 8;
export const REDACTED = '[redacted]';

/**
 * A channel's own secrets, whole and in the pieces a receiver may echo alone: a webhook URL's path and
 * query (for Teams and Slack the path is the credential), their segments and values, header values and
 * the tokens in them, the signing secret; an SMTP password, also as AUTH PLAIN and LOGIN send it.
 */
export function channelSecrets(channel: DeepReadonly<ChannelRecord>, sealer: Sealer): string[] {
  const secrets: string[] = [];
  const open = (sealed: string, what: Parameters<typeof channelSealingContext>[1]) => sealer.unseal(sealed, channelSealingContext(channel.id, what));
  try {
    if (channel.kind === 'webhook') {
      const url = new URL(open(channel.sealedUrl, 'url'));
      secrets.push(url.href);
      if (url.pathname !== '/') secrets.push(url.pathname + url.search, url.pathname, ...url.pathname.split('/'));
      if (url.search) secrets.push(url.search, url.search.slice(1), ...url.search.slice(1).split('&'));
      for (const [, value] of url.searchParams) secrets.push(value);
      for (const header of channel.headers) {
        const value = open(header.sealedValue, `header:${header.name.toLowerCase()}`);
        secrets.push(value, ...value.split(/[\s,;=]+/));
      }
      if (channel.sealedSigningSecret) secrets.push(open(channel.sealedSigningSecret, 'signingSecret'));
    } else if (channel.kind === 'smtp' && channel.sealedPassword) {
      const password = open(channel.sealedPassword, 'password');
      secrets.push(password, Buffer.from(`\u0000${channel.username ?? ''}\u0000${password}`).toString('base64'));
    }
  } catch {
    // A sealed value that does not open was never sent: there is nothing of it to redact.
  }
  return secrets;
}

/** `text` with every secret replaced, as sent and in the encodings an echo may use (percent, JSON, HTML, base64). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_PIECE) continue;
    const decoded = safeDecode(secret);
    for (const form of [secret, decoded, encodeURIComponent(secret), encodeURI(secret), encodeURIComponent(decoded), JSON.stringify(secret).slice(1, -1), htmlEscape(secret), htmlEscape(decoded), Buffer.from(secret).toString('base64')]) {
      if (form.length >= MIN_SECRET_PIECE) forms.add(form);
    }
  }
  // Longest first, so that a whole secret is replaced before a piece of it leaves the rest behind.
  let out = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join(REDACTED);
  return out;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function htmlEscape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

// ---------------------------------------------------------------------------------------------------
// Webhook

/**
 * The signature a webhook request carries when its channel has a signing secret, in the manner of
 * Stripe and Slack:
 *
 *     X-Ams-Timestamp: <Unix time in seconds>
 *     X-Ams-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 *
 * A receiver recomputes the HMAC over the timestamp header, a dot and the body bytes exactly as
 * received, compares in constant time, and rejects a timestamp more than a few minutes old (replays).
 */
export function signWebhookBody(secret: string, timestamp: number | string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** What a receiver does (usable by Node receivers and by tests): true when the signature is right and fresh. */
export function verifyWebhookSignature(
  secret: string,
  received: { timestamp: string | undefined; signature: string | undefined; body: string },
  options: { toleranceSeconds?: number; now?: number } = {},
): boolean {
  const { timestamp, signature, body } = received;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  const age = Math.abs((options.now ?? Date.now()) / 1000 - Number(timestamp));
  if (age > (options.toleranceSeconds ?? 300)) return false;
  const expected = Buffer.from(signWebhookBody(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export interface WebhookRequest {
  url: string;
  method: 'POST' | 'PUT';
  headers: Record<string, string>;
  body: string;
}

/** The request a webhook delivery sends, secrets unsealed: for the daemon's own use only. */
export function webhookRequest(channel: DeepReadonly<WebhookChannelRecord>, event: NotificationEvent, options: DeliverOptions): WebhookRequest {
  const { sealer } = options;
  const now = options.now ?? (() => new Date());
  const body = render(channel.bodyTemplate, variablesFrom(event, options.extra, now), 'json');
  const headers: Record<string, string> = {};
  for (const header of channel.headers) {
    headers[header.name] = sealer.unseal(header.sealedValue, channelSealingContext(channel.id, `header:${header.name.toLowerCase()}`));
  }
  headers['content-type'] = channel.contentType;
  if (!Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent')) headers['user-agent'] = options.userAgent ?? 'amsd';
  if (options.deliveryId) headers[DELIVERY_ID_HEADER] = options.deliveryId;
  if (channel.sealedSigningSecret) {
    const secret = sealer.unseal(channel.sealedSigningSecret, channelSealingContext(channel.id, 'signingSecret'));
    const timestamp = String(Math.floor(now().getTime() / 1000));
    headers[TIMESTAMP_HEADER] = timestamp;
    headers[SIGNATURE_HEADER] = signWebhookBody(secret, timestamp, body);
  }
  return { url: sealer.unseal(channel.sealedUrl, channelSealingContext(channel.id, 'url')), method: channel.method, headers, body };
}

async function deliverWebhook(channel: DeepReadonly<WebhookChannelRecord>, event: NotificationEvent, options: DeliverOptions): Promise<DeliveryResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
  const where = channel.urlOrigin;
  const outgoing = webhookRequest(channel, event, options);
  let response: Dispatcher.ResponseData;
  try {
    response = await request(outgoing.url, {
      method: outgoing.method,
      headers: outgoing.headers,
      body: outgoing.body,
      signal: AbortSignal.timeout(timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
  } catch (error) {
    const e = error as Error & { code?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.code === 'UND_ERR_HEADERS_TIMEOUT') {
      return { ok: false, error: `${where} did not answer within ${timeoutMs} ms`, retryable: true };
    }
    return { ok: false, error: `could not reach ${where}: ${e.cause?.code ?? e.code ?? e.cause?.message ?? e.message}`, retryable: true };
  }
  const status = response.statusCode;
  const snippet = await readSnippet(response.body, 512);
  if (status >= 200 && status < 300) return { ok: true };
  const retryable = status === 408 || status === 429 || status >= 500;
  const hint = status >= 300 && status < 400 ? ' (redirects are not followed: give the final URL)' : '';
  return { ok: false, error: `${where} answered ${status}${hint}${snippet ? `: ${snippet}` : ''}`, retryable };
}

/** The start of a response body, on one line, for an error message; the rest is read and dropped. */
async function readSnippet(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      if (text.length < limit) text += (chunk as Buffer).toString('utf8');
      else if (text.length > 64 * 1024) break;
    }
  } catch {
    // A body cut short says nothing more about the outcome than the status.
  } finally {
    body.destroy();
  }
  // eslint-disable-next-line no-control-regex
  return text.slice(0, limit).replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------------
// SMTP

/** The mail a delivery sends (no secret in it). */
export function mailMessage(channel: DeepReadonly<SmtpChannelRecord>, event: NotificationEvent, options: Pick<DeliverOptions, 'extra' | 'now'> = {}) {
  const variables = variablesFrom(event, options.extra, options.now);
  return {
    from: channel.from,
    to: [...channel.to],
    subject: render(channel.subjectTemplate, variables, 'text'),
    html: render(channel.htmlTemplate, variables, 'html'),
  };
}

async function deliverMail(channel: DeepReadonly<SmtpChannelRecord>, event: NotificationEvent, options: DeliverOptions): Promise<DeliveryResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS;
  const where = `${channel.host}:${channel.port}`;
  const message = mailMessage(channel, event, options);
  const password = channel.sealedPassword ? options.sealer.unseal(channel.sealedPassword, channelSealingContext(channel.id, 'password')) : undefined;
  // Loaded with the first mail: ~15 MB that a daemon without SMTP channels never needs.
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({
    host: channel.host,
    port: channel.port,
    secure: channel.tls === 'tls',
    requireTLS: channel.tls === 'starttls',
    ignoreTLS: channel.tls === 'none',
    ...(channel.username !== undefined ? { auth: { user: channel.username, pass: password ?? '' } } : {}),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    tls: { minVersion: 'TLSv1.2', ...(options.smtpCa ? { ca: options.smtpCa } : {}) },
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`${where} did not accept the mail within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    });
    await Promise.race([transport.sendMail({ ...message, disableFileAccess: true, disableUrlAccess: true }), timeout]);
    return { ok: true };
  } catch (error) {
    const e = error as Error & { code?: string; responseCode?: number };
    const retryable = e.responseCode !== undefined ? e.responseCode < 500 : !['EAUTH', 'EENVELOPE', 'ETLS', 'EMESSAGE', 'ENOAUTH'].includes(e.code ?? '');
    const reason = e.message.replace(/\s+/g, ' ').trim();
    return { ok: false, error: reason.includes(where) ? reason : `${where}: ${reason}`, retryable };
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}

// ---------------------------------------------------------------------------------------------------
// PowerShell

/** What the script reads on standard input. */
export function scriptInput(event: NotificationEvent, options: Pick<DeliverOptions, 'extra' | 'now'> = {}): string {
  return JSON.stringify({ variables: variablesFrom(event, options.extra, options.now), event }) + '\n';
}

async function deliverToScript(channel: DeepReadonly<PowerShellChannelRecord>, event: NotificationEvent, options: DeliverOptions): Promise<DeliveryResult> {
  return runPowerShell(channel.scriptPath, scriptInput(event, options), {
    pwshPath: options.pwshPath ?? DEFAULT_PWSH,
    timeoutMs: options.timeoutMs ?? DEFAULT_DELIVERY_TIMEOUT_MS,
  });
}

const STDERR_LIMIT = 4096;

/**
 * Runs a script with `pwsh -NoProfile -NonInteractive -File <script>` and `input` on standard input.
 * Past `timeoutMs` the script is killed, with whatever it started (its process group, outside
 * Windows).
 */
export function runPowerShell(scriptPath: string, input: string, options: { pwshPath: string; timeoutMs: number }): Promise<DeliveryResult> {
  return new Promise((resolve) => {
    const seconds = `${options.timeoutMs / 1000} s`;
    const child = spawn(options.pwshPath, ['-NoProfile', '-NonInteractive', '-File', scriptPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
      // Its own process group, so that a timeout kills what the script started too.
      detached: process.platform !== 'win32',
    });
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (result: DeliveryResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      resolve(result);
    };
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      kill(child.pid);
      // The pipes may stay open if something escaped the kill: do not wait for them for long.
      grace = setTimeout(() => finish({ ok: false, error: `the script did not finish within ${seconds} and was stopped`, retryable: true }), 2000);
    }, options.timeoutMs);
    const kill = (pid: number | undefined) => {
      try {
        if (pid !== undefined && process.platform !== 'win32') process.kill(-pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };

    child.on('error', (error: NodeJS.ErrnoException) => {
      const missing = error.code === 'ENOENT';
      finish({
        ok: false,
        error: missing ? `cannot start ${options.pwshPath}: it was not found (install PowerShell 7, or set AMS_PWSH to its path)` : `cannot start ${options.pwshPath}: ${error.message}`,
        retryable: !missing,
      });
    });
    // Read and dropped, so that a chatty script never blocks on a full pipe.
    child.stdout.resume();
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < STDERR_LIMIT) stderr += chunk.toString('utf8');
    });
    // A script that exits without reading its input closes the pipe: that is its business, not an error.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);

    child.on('close', (code, signal) => {
      const errorOutput = stderr.slice(0, STDERR_LIMIT).replace(/\s+/g, ' ').trim();
      if (timedOut) return finish({ ok: false, error: `the script did not finish within ${seconds} and was stopped`, retryable: true });
      if (code !== 0) {
        const how = code === null ? `was stopped by ${signal}` : `exited with code ${code}`;
        return finish({ ok: false, error: `the script ${how}${errorOutput ? `: ${errorOutput}` : ''}`, retryable: true });
      }
      if (errorOutput) return finish({ ok: false, error: `the script wrote to its error output: ${errorOutput}`, retryable: true });
      finish({ ok: true });
    });
  });
}
