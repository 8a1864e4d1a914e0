/**
 * How a daemon learns that another one changed the state: a dedicated connection LISTENs on the
 * changes channel (the hint: each committed change NOTIFYs its revision), and a poll asks the
 * revision every `pollMs` anyway (the truth: notifications sent while this connection was down are
 * lost). When the connection drops it is made again, with a growing wait, and the state is then read
 * afresh (`onReconnected`), since what happened meanwhile was not heard.
 */
import pg from 'pg';
import { CHANGES_CHANNEL } from './state-tables.js';

export interface ChangeWatcherOptions {
  url: string;
  applicationName: string;
  /** A notification: another daemon (or this one) committed this revision. */
  onHint: (revision: number) => void;
  /** Every `pollMs`, and after each reconnect's LISTEN. */
  onPoll: () => void;
  onReconnected: () => void;
  /** The connection failed (logged by the owner; the watcher tries again by itself). */
  onError: (error: unknown) => void;
  pollMs: number;
  /** The first and the longest wait before reconnecting. */
  reconnectMs?: { first: number; max: number };
}

export class ChangeWatcher {
  #client: pg.Client | undefined;
  #closed = false;
  #connectedOnce = false;
  #wait: number;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #pollTimer: NodeJS.Timeout;

  private constructor(private readonly options: ChangeWatcherOptions) {
    this.#wait = options.reconnectMs?.first ?? 100;
    this.#pollTimer = setInterval(() => options.onPoll(), options.pollMs);
    this.#pollTimer.unref();
  }

  /** Starts listening; resolves once LISTEN is in place (a failure to connect the first time rejects). */
  static async start(options: ChangeWatcherOptions): Promise<ChangeWatcher> {
    const watcher = new ChangeWatcher(options);
    try {
      await watcher.#connect();
    } catch (error) {
      await watcher.close();
      throw error;
    }
    return watcher;
  }

  /** Whether the LISTEN connection is up now. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url, application_name: this.options.applicationName, connectionTimeoutMillis: 10_000 });
    let lost = false;
    const onLost = (error?: unknown) => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      if (this.#closed) return;
      if (error) this.options.onError(error);
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => {
      const revision = Number(message.payload);
      if (Number.isSafeInteger(revision)) this.options.onHint(revision);
    });
    await client.connect();
    await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    if (this.#closed || lost) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#wait = this.options.reconnectMs?.first ?? 100;
    if (this.#connectedOnce) this.options.onReconnected();
    this.#connectedOnce = true;
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    const wait = this.#wait;
    this.#wait = Math.min(wait * 2, this.options.reconnectMs?.max ?? 5_000);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect().catch((error: unknown) => {
        this.options.onError(error);
        this.#scheduleReconnect();
      });
    }, wait);
    this.#reconnectTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#pollTimer);
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
