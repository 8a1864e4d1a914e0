/**
 * Shared pieces of the notification tests: a sealer, events with hostile text, a local HTTP receiver
 * that records what arrives, and a clock moved by hand.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import type { SecretReadEventInput } from '../../daemon/audit/events.js';
import type { NewChannel } from '../../daemon/notifications/channel-contract.js';
import { validateNewChannel } from '../../daemon/notifications/new-channel.js';
import type { ChannelRecord } from '../../daemon/store/records.js';
import type { Clock } from '../../daemon/notifications/queue.js';
import type { NotificationEvent } from '../../daemon/notifications/templates.js';
import { createSealer } from '../../daemon/store/sealing.js';

export const sealer = createSealer(randomBytes(32));

/** Text that breaks naive JSON, HTML, and mail headers. */
export const HOSTILE = 'He said "stop" \\ C:\\Temp\nBcc: evil@example.com\r\n</script><script>alert(1)</script> & \'done\'';

export function event(overrides: Partial<SecretReadEventInput> = {}): NotificationEvent {
  return {
    type: 'secret.read',
    actor: {
      kind: 'entra',
      id: 'a1a1a1a1-0000-4000-8000-000000000001',
      principalId: 'a1a1a1a1-0000-4000-8000-000000000001',
      displayName: 'Alice Admin',
      userPrincipalName: 'alice@contoso.example',
      tenantId: '11111111-1111-4111-8111-111111111111',
      role: 'user',
    },
    ip: '192.0.2.10',
    requestId: 'req-42',
    reason: HOSTILE,
    accessType: 'LocalAdminPassword',
    device: {
      deviceName: 'PC-"007"\\</script>',
      deviceId: 'dddd0001-0000-4000-8000-000000000001',
      objectId: 'oooo0001-0000-4000-8000-000000000001',
      tenantId: '11111111-1111-4111-8111-111111111111',
    },
    outcome: { success: true, code: 'Success', ruleIds: ['eeee0001-0000-4000-8000-000000000001'] },
    ...overrides,
  };
}

/** A new channel as a test writes it: `enabled` and `mandatory` may be left to their defaults. */
export type ChannelInput = Omit<NewChannel, 'enabled' | 'mandatory'> & Partial<Pick<NewChannel, 'enabled' | 'mandatory'>>;

/** The input with the defaults that request validation fills in from the contract. */
export function newChannel(input: ChannelInput): NewChannel {
  return { enabled: true, mandatory: false, ...input };
}

/** A channel as validateNewChannel makes it; fails the test with the errors otherwise. */
export function channel(input: ChannelInput, existing: ChannelRecord[] = []): ChannelRecord {
  const result = validateNewChannel(newChannel(input), { sealer, existing, author: 'test' });
  if (!result.record) throw new Error(`invalid test channel: ${JSON.stringify(result.errors)}`);
  return result.record;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  /** Decides each answer; 204 when it returns nothing. */
  respond: (request: ReceivedRequest, response: ServerResponse) => number | void;
  /** Resolves with the requests once there are `count` of them, or after `boundMs` with those there are. */
  untilRequests(count: number, boundMs?: number): Promise<ReceivedRequest[]>;
}

/** An HTTP server on 127.0.0.1, port 0, closed when the test ends. */
export async function startReceiver(t: Test, respond: Receiver['respond'] = () => 204): Promise<Receiver> {
  const arrivals = new EventEmitter();
  const receiver: Receiver = {
    url: '',
    requests: [],
    respond,
    untilRequests(count, boundMs = 10_000) {
      return new Promise((resolve) => {
        const check = () => {
          if (receiver.requests.length < count) return;
          done();
        };
        const done = () => {
          clearTimeout(bound);
          arrivals.off('request', check);
          resolve(receiver.requests);
        };
        const bound = setTimeout(done, boundMs).unref();
        arrivals.on('request', check);
        check();
      });
    },
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      receiver.requests.push(received);
      arrivals.emit('request');
      const status = receiver.respond(received, res);
      if (status === undefined) return;
      res.statusCode = status;
      res.end(status >= 400 ? `failure ${status}` : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}

/** A port on 127.0.0.1 where nothing listens (for a while). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A clock that moves only when told, firing due timers in order. */
export class ManualClock implements Clock {
  #now: number;
  #timers: { at: number; callback: () => void; cancelled: boolean }[] = [];

  constructor(start = Date.parse('2026-05-01T09:00:00.000Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, ms: number): () => void {
    const timer = { at: this.#now + ms, callback, cancelled: false };
    this.#timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  /** Timers still set. */
  get pendingTimers(): number[] {
    return this.#timers.filter((t) => !t.cancelled).map((t) => t.at - this.#now);
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      due.cancelled = true;
      this.#now = due.at;
      due.callback();
    }
    this.#now = target;
    this.#timers = this.#timers.filter((t) => !t.cancelled);
  }
}
