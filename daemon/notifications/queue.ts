/**
 * The delivery queue for notifications that may arrive late (every channel that is not mandatory).
 *
 * - Durable: `enqueue` resolves once the delivery is in `<dataDir>/notifications/queue.json` (temporary
 *   file, fsync, rename, directory fsync), so what was queued survives a crash or a restart.
 * - Retried with exponential backoff and jitter (10 s, 30 s, 2 min, 10 min, then hourly; ±20 %), up to
 *   `maxAttempts` (8) attempts. An answer that says retrying is useless (a 4xx, refused credentials)
 *   ends it at once.
 * - Never dropped silently: a delivery that finally fails moves to the failed list (the last
 *   `maxFailed`, 1000, are kept and listed by `failed()`), and `onFinalFailure` is called once for it
 *   (the daemon puts it on the audit trail). If that call fails, it is made again at the next
 *   `start()`.
 * - At least once: a delivery is removed only after it succeeded; one under way when the process dies
 *   is sent again after the restart, with the same `X-Ams-Delivery-Id`.
 * - A queue file that cannot be read or does not match its schema stops the daemon with
 *   `QueueLoadError`; it is never reset, since it holds notifications not yet delivered.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileValidator } from '../common/precompiled-validators.js';
import { UntrustedFileError, atomicWrite, describeSchemaErrors, loadVersionedJson, removeLeftoverTempFiles } from '../common/durable-files.js';
import { SerialQueue } from '../common/serial.js';
import type { DeepReadonly } from '../store/store.js';
import type { ChannelRecord } from '../store/records.js';
import { deliver as deliverToChannel, type DeliverOptions, type DeliveryResult } from './deliver.js';
import type { NotificationEvent, VariableExtras } from './templates.js';


export const QUEUE_DIR = 'notifications';
export const QUEUE_FILE = 'queue.json';
const QUEUE_VERSION = 1;

export const DEFAULT_BACKOFF_MS: readonly number[] = [10_000, 30_000, 120_000, 600_000, 3_600_000];
export const DEFAULT_MAX_ATTEMPTS = 8;
export const DEFAULT_MAX_FAILED = 1000;
/** How long a delivery whose outcome could not be written waits before it is tried again. */
const PERSIST_RETRY_MS = 30_000;
/** Timers longer than this are re-armed (setTimeout's limit is 2^31-1 ms). */
const MAX_TIMER_MS = 3_600_000;

export function queueFilePath(dataDir: string): string {
  return join(dataDir, QUEUE_DIR, QUEUE_FILE);
}

export interface PendingDelivery {
  id: string;
  channelId: string;
  /** The audit event (no secret is ever in one). */
  event: NotificationEvent;
  extra?: VariableExtras;
  /** Attempts made so far. */
  attempts: number;
  createdAt: string;
  nextAttemptAt: string;
  lastAttemptAt?: string;
  lastError?: string;
}

export interface FailedDelivery {
  id: string;
  channelId: string;
  /** The channel's name when it failed, if it still existed. */
  channelName?: string;
  event: NotificationEvent;
  extra?: VariableExtras;
  attempts: number;
  createdAt: string;
  failedAt: string;
  lastError: string;
  /** When `onFinalFailure` accepted it. */
  reportedAt?: string;
}

interface QueueFileContent {
  version: typeof QUEUE_VERSION;
  pending: PendingDelivery[];
  failed: FailedDelivery[];
}

/** The queue file exists but cannot be used. The daemon stops with this message; the file is left as it is. */
export class QueueLoadError extends Error {
  constructor(readonly file: string, problem: string) {
    super(
      `The notification queue ${file} cannot be used: ${problem}. amsd has not changed it: it holds notifications ` +
        'not yet delivered. Repair it from a backup, or move it away to start with an empty queue (what it held is then not delivered).',
    );
    this.name = 'QueueLoadError';
  }
}

/** Time, and timers, as the queue sees them; tests pass a clock they move by hand. */
export interface Clock {
  now(): number;
  /** Calls `callback` after `ms`; the function returned cancels it. */
  setTimer(callback: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, ms) {
    const timer = setTimeout(callback, ms);
    // A pending retry alone does not keep the process alive.
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface NotificationQueueOptions {
  /** `queueFilePath(dataDir)`. */
  file: string;
  /** The channel as stored now; it may have changed, been disabled or removed since the event was queued. */
  channel: (id: string) => DeepReadonly<ChannelRecord> | undefined;
  deliverOptions: Omit<DeliverOptions, 'extra' | 'deliveryId'>;
  /** Waits before the 2nd, 3rd, ... attempt; the last one repeats. */
  backoffMs?: readonly number[];
  maxAttempts?: number;
  /** Each wait is varied by up to this fraction either way (default 0.2), so that failures do not retry in lockstep. */
  jitter?: number;
  random?: () => number;
  /** Deliveries in flight at once (default 4). */
  concurrency?: number;
  maxFailed?: number;
  clock?: Clock;
  /** Called once per delivery that finally failed, after it is on disk in the failed list. */
  onFinalFailure?: (delivery: FailedDelivery) => void | Promise<void>;
  /** Problems the worker cannot hand to anyone else (the queue file cannot be written). */
  onError?: (error: unknown) => void;
  /** Replaces the delivery itself (tests of the worker alone). */
  deliver?: typeof deliverToChannel;
}

/** How the queue file's schema is compiled, here and by the build (scripts/build-contract.ts). */
export const QUEUE_VALIDATION_OPTIONS = { allErrors: true, strict: true };
const dateTime = { type: 'string', format: 'date-time' } as const;
const extraSchema = { type: 'object', additionalProperties: false, properties: { ruleDescription: { type: 'string' } } } as const;
const eventSchema = {
  type: 'object',
  required: ['type', 'actor', 'accessType', 'device', 'outcome'],
  properties: { type: { type: 'string' }, actor: { type: 'object' }, accessType: { type: 'string' }, device: { type: 'object' }, outcome: { type: 'object' } },
} as const;
export const queueFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'pending', 'failed'],
  properties: {
    version: { const: QUEUE_VERSION },
    pending: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'channelId', 'event', 'attempts', 'createdAt', 'nextAttemptAt'],
        properties: {
          id: { type: 'string', minLength: 1 },
          channelId: { type: 'string', minLength: 1 },
          event: eventSchema,
          extra: extraSchema,
          attempts: { type: 'integer', minimum: 0 },
          createdAt: dateTime,
          nextAttemptAt: dateTime,
          lastAttemptAt: dateTime,
          lastError: { type: 'string' },
        },
      },
    },
    failed: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'channelId', 'event', 'attempts', 'createdAt', 'failedAt', 'lastError'],
        properties: {
          id: { type: 'string', minLength: 1 },
          channelId: { type: 'string', minLength: 1 },
          channelName: { type: 'string' },
          event: eventSchema,
          extra: extraSchema,
          attempts: { type: 'integer', minimum: 0 },
          createdAt: dateTime,
          failedAt: dateTime,
          lastError: { type: 'string' },
          reportedAt: dateTime,
        },
      },
    },
  },
} as const;
const validateQueueFile = fileValidator<QueueFileContent>(queueFileSchema, QUEUE_VALIDATION_OPTIONS);

async function loadQueueFile(file: string): Promise<QueueFileContent | undefined> {
  try {
    return await loadVersionedJson(file, {
      versionField: 'version',
      version: QUEUE_VERSION,
      versionName: 'queue version',
      check: validateQueueFile,
      problems: () => describeSchemaErrors(validateQueueFile.errors),
    });
  } catch (error) {
    if (error instanceof UntrustedFileError) throw new QueueLoadError(file, error.problem);
    throw error;
  }
}

/**
 * What the daemon asks of its queue: this file's NotificationQueue (a file in the data directory), or
 * PostgresNotificationQueue (postgres-queue.ts: shared by the daemons on one database), whose lists are
 * read from the database, so asynchronously.
 */
export interface DeliveryQueue {
  start(): void;
  stop(): Promise<void>;
  idle(): Promise<void>;
  enqueue(channelId: string, event: NotificationEvent, extra?: VariableExtras): Promise<string>;
  deliverNow(channel: DeepReadonly<ChannelRecord>, event: NotificationEvent, extra?: VariableExtras): Promise<DeliveryResult>;
  pending(): PendingDelivery[] | Promise<PendingDelivery[]>;
  failed(): FailedDelivery[] | Promise<FailedDelivery[]>;
}

/** What a queued delivery's attempt gives: the channel as it is now (if any) and the outcome. */
export async function attemptQueued(
  options: Pick<NotificationQueueOptions, 'channel' | 'deliverOptions' | 'deliver'>,
  delivery: Pick<PendingDelivery, 'id' | 'channelId' | 'event' | 'extra'>,
): Promise<{ channel: DeepReadonly<ChannelRecord> | undefined; result: DeliveryResult }> {
  const channel = options.channel(delivery.channelId);
  if (!channel) return { channel, result: { ok: false, error: 'the channel was removed before the notification could be delivered', retryable: false } };
  if (!channel.enabled) return { channel, result: { ok: false, error: 'the channel is disabled', retryable: false } };
  const result = await (options.deliver ?? deliverToChannel)(channel, delivery.event, { ...options.deliverOptions, ...(delivery.extra ? { extra: delivery.extra } : {}), deliveryId: delivery.id });
  return { channel, result };
}

/** The wait before attempt `attempts + 1`: the backoff step, varied by the jitter. */
export function backoffWait(options: Pick<NotificationQueueOptions, 'backoffMs' | 'jitter' | 'random'>, attempts: number): number {
  const steps = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  const base = steps[Math.min(attempts - 1, steps.length - 1)] ?? 60_000;
  const jitter = options.jitter ?? 0.2;
  const random = (options.random ?? Math.random)();
  return Math.round(base * (1 - jitter + 2 * jitter * random));
}

/**
 * Tells `onFinalFailure` of a delivery that finally failed, then marks it reported (`markReported`),
 * at most once at a time per delivery (`reporting` holds the reports in progress, which stopping waits
 * for); a failure of either is passed to `onError`, and the delivery stays unreported for the queue to report again.
 */
export function reportOnce(
  reporting: Map<string, Promise<void>>,
  failed: FailedDelivery,
  onFinalFailure: (failed: FailedDelivery) => Promise<void> | void,
  onError: ((error: unknown) => void) | undefined,
  markReported: () => Promise<unknown>,
): Promise<void> {
  const running = reporting.get(failed.id);
  if (running) return running;
  const report = (async () => {
    await onFinalFailure(structuredClone(failed));
    await markReported();
  })()
    .catch((error: unknown) => onError?.(error))
    .finally(() => reporting.delete(failed.id));
  reporting.set(failed.id, report);
  return report;
}

export class NotificationQueue implements DeliveryQueue {
  readonly #options: NotificationQueueOptions;
  readonly #clock: Clock;
  #state: QueueFileContent;
  readonly #writes = new SerialQueue();
  #running = false;
  #cancelTimer: (() => void) | undefined;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #reporting = new Map<string, Promise<void>>();
  /** Deliveries whose last outcome could not be written: not retried before this time. */
  readonly #holds = new Map<string, number>();

  private constructor(options: NotificationQueueOptions, state: QueueFileContent) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#state = state;
  }

  /** Reads the queue file (creating its directory), or refuses it with QueueLoadError. Call `start()` to deliver. */
  static async open(options: NotificationQueueOptions): Promise<NotificationQueue> {
    await mkdir(dirname(options.file), { recursive: true, mode: 0o700 });
    // Opened by the daemon under the data directory's lock: temporary copies left by a kill are ours to remove.
    await removeLeftoverTempFiles(options.file);
    const state = (await loadQueueFile(options.file)) ?? { version: QUEUE_VERSION, pending: [], failed: [] };
    return new NotificationQueue(options, state);
  }

  /** Starts delivering what is due, and reports final failures not yet reported. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const failed of this.#state.failed) if (!failed.reportedAt) void this.#report(failed);
    this.#schedule();
  }

  /** Stops taking up deliveries and waits for those in flight; what is left stays in the file for the next start. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    await this.idle();
    await this.#writes.idle();
  }

  /** Resolves when no delivery or report is in flight. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#reporting.size > 0) {
      await Promise.allSettled([...this.#inFlight.values(), ...this.#reporting.values()]);
    }
  }

  /** Queues a delivery; resolves with its id once it is on disk. */
  async enqueue(channelId: string, event: NotificationEvent, extra?: VariableExtras): Promise<string> {
    const now = new Date(this.#clock.now()).toISOString();
    const delivery: PendingDelivery = {
      id: randomUUID(),
      channelId,
      event: structuredClone(event),
      ...(extra && Object.keys(extra).length > 0 ? { extra: { ...extra } } : {}),
      attempts: 0,
      createdAt: now,
      nextAttemptAt: now,
    };
    await this.#mutate((state) => void state.pending.push(delivery));
    this.#schedule();
    return delivery.id;
  }

  /**
   * Delivers at once, outside the queue, and says how it went: for mandatory channels (the secret is
   * refused when this fails) and for Test-AmsNotificationChannel. Nothing is retried or recorded.
   */
  deliverNow(channel: DeepReadonly<ChannelRecord>, event: NotificationEvent, extra?: VariableExtras): Promise<DeliveryResult> {
    return this.#deliver(channel, event, { ...(extra ? { extra } : {}), deliveryId: randomUUID() });
  }

  /** Deliveries still to be made, oldest first. */
  pending(): PendingDelivery[] {
    return structuredClone(this.#state.pending);
  }

  /** Deliveries that finally failed, oldest first (the last `maxFailed`). */
  failed(): FailedDelivery[] {
    return structuredClone(this.#state.failed);
  }

  #deliver(channel: DeepReadonly<ChannelRecord>, event: NotificationEvent, extra: Pick<DeliverOptions, 'extra' | 'deliveryId'>): Promise<DeliveryResult> {
    return (this.#options.deliver ?? deliverToChannel)(channel, event, { ...this.#options.deliverOptions, ...extra });
  }

  /** Applies a change to a copy of the queue, writes it durably, then makes it current; one at a time. */
  #mutate<T>(change: (draft: QueueFileContent) => T): Promise<T> {
    return this.#writes.run(async () => {
      const draft = structuredClone(this.#state);
      const result = change(draft);
      await atomicWrite(this.#options.file, JSON.stringify(draft, null, 2) + '\n');
      this.#state = draft;
      return result;
    });
  }

  /** Takes up what is due (as many as `concurrency` allows) and sets a timer for the next. */
  #schedule(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    if (!this.#running) return;
    const concurrency = this.#options.concurrency ?? 4;
    const now = this.#clock.now();
    const waiting = this.#state.pending
      .filter((d) => !this.#inFlight.has(d.id))
      .map((d) => ({ delivery: d, due: Math.max(Date.parse(d.nextAttemptAt), this.#holds.get(d.id) ?? 0) }))
      .sort((a, b) => a.due - b.due);
    for (const { delivery, due } of waiting) {
      // Each delivery that ends schedules again.
      if (this.#inFlight.size >= concurrency) return;
      if (due > now) {
        this.#cancelTimer = this.#clock.setTimer(() => this.#schedule(), Math.min(due - now, MAX_TIMER_MS));
        return;
      }
      this.#holds.delete(delivery.id);
      const attempt = this.#attempt(delivery)
        .catch((error: unknown) => {
          this.#holds.set(delivery.id, this.#clock.now() + PERSIST_RETRY_MS);
          this.#options.onError?.(error);
        })
        .finally(() => {
          this.#inFlight.delete(delivery.id);
          this.#schedule();
        });
      this.#inFlight.set(delivery.id, attempt);
    }
  }

  async #attempt(delivery: PendingDelivery): Promise<void> {
    const { channel, result } = await attemptQueued(this.#options, delivery);

    const now = this.#clock.now();
    const attempts = delivery.attempts + 1;
    const remove = (state: QueueFileContent) => {
      state.pending = state.pending.filter((d) => d.id !== delivery.id);
    };
    if (result.ok) {
      await this.#mutate(remove);
      return;
    }
    if (result.retryable && attempts < (this.#options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS)) {
      const error = result.error;
      await this.#mutate((state) => {
        const pending = state.pending.find((d) => d.id === delivery.id);
        if (!pending) return;
        pending.attempts = attempts;
        pending.lastAttemptAt = new Date(now).toISOString();
        pending.lastError = error;
        pending.nextAttemptAt = new Date(now + this.#backoff(attempts)).toISOString();
      });
      return;
    }
    const failed: FailedDelivery = {
      id: delivery.id,
      channelId: delivery.channelId,
      ...(channel ? { channelName: channel.name } : {}),
      event: delivery.event,
      ...(delivery.extra ? { extra: delivery.extra } : {}),
      attempts,
      createdAt: delivery.createdAt,
      failedAt: new Date(now).toISOString(),
      lastError: result.error,
    };
    const maxFailed = this.#options.maxFailed ?? DEFAULT_MAX_FAILED;
    await this.#mutate((state) => {
      remove(state);
      state.failed.push(failed);
      // The oldest go first; each was reported (on the audit trail) when it failed.
      if (state.failed.length > maxFailed) state.failed.splice(0, state.failed.length - maxFailed);
    });
    void this.#report(failed);
  }

  /** The wait before attempt `attempts + 1`. */
  #backoff(attempts: number): number {
    return backoffWait(this.#options, attempts);
  }

  #report(failed: FailedDelivery): Promise<void> {
    const onFinalFailure = this.#options.onFinalFailure;
    if (!onFinalFailure) return Promise.resolve();
    return reportOnce(this.#reporting, failed, onFinalFailure, this.#options.onError, async () => {
      const at = new Date(this.#clock.now()).toISOString();
      await this.#mutate((state) => {
        const stored = state.failed.find((f) => f.id === failed.id);
        if (stored) stored.reportedAt = at;
      });
    });
  }
}
