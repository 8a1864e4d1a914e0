/**
 * Whether this daemon can reach its database, for failing closed (secret reads and changes refused
 * with 503) and for /v1/health (503, so that a load balancer takes the daemon out).
 *
 * "Cannot reach" means: the LATEST query on the daemon's connections failed for want of a connection
 * (refused, reset, terminated, timed out connecting, the server shutting down: `isConnectionFailure`),
 * or the listening connection dropped and a ping right after did not answer within 2 s. Errors of
 * the query itself (a constraint, a serialization failure) say nothing about reachability. Since the
 * store asks the database's revision every second (the poll), the answer is never much older than
 * that, and it turns back to reachable with the first query that succeeds: the daemon recovers by
 * itself, without a restart and without waiting for a request.
 */
import { UnavailableError } from '../../common/errors.js';

/** SQLSTATE classes and codes that mean the connection, not the statement, failed. */
const CONNECTION_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** Whether an error of pg means the database could not be reached (rather than that a statement failed). */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || CONNECTION_SQLSTATES.has(code) || CONNECTION_ERRNOS.has(code))) return true;
  // node-postgres says these in words only.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|connection is not open|Client was closed/i.test(error.message);
}

/** How long a caller is told to wait: about the poll that notices the database is back. */
export const DATABASE_RETRY_SECONDS = 5;

export class DatabaseReachability {
  #reachable = true;
  #listeners = new Set<(reachable: boolean) => void>();

  constructor(
    /** The URL without its password, for messages. */
    readonly database: string,
  ) {}

  /** Whether the database is reachable as far as this daemon knows now (no round trip). */
  get reachable(): boolean {
    return this.#reachable;
  }

  /** A query succeeded. */
  noteSuccess(): void {
    this.#set(true);
  }

  /** A query failed: unreachable when it failed for want of a connection. Returns whether it did. */
  noteFailure(error: unknown): boolean {
    if (!isConnectionFailure(error)) return false;
    this.#set(false);
    return true;
  }

  /** Runs a query's work, noting how it went. */
  async track<T>(work: () => Promise<T>): Promise<T> {
    try {
      const result = await work();
      this.noteSuccess();
      return result;
    } catch (error) {
      this.noteFailure(error);
      throw error;
    }
  }

  /** Told of every change between reachable and not. */
  onChange(listener: (reachable: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The error a change is refused with while the database cannot be reached. */
  changeRefusal(cause?: unknown): UnavailableError {
    return new UnavailableError(
      'database-unreachable',
      `The database cannot be reached, so nothing was changed. Try again in a few seconds; if it lasts, an administrator must check the database server and the network to it.`,
      DATABASE_RETRY_SECONDS,
      cause === undefined ? {} : { cause },
    );
  }

  /** The error a request that needed the database (a list of what it holds) is answered with meanwhile. */
  requestRefusal(what: string, cause?: unknown): UnavailableError {
    return new UnavailableError(
      'database-unreachable',
      `The database cannot be reached, so ${what} cannot be shown. Try again in a few seconds; if it lasts, an administrator must check the database server and the network to it.`,
      DATABASE_RETRY_SECONDS,
      cause === undefined ? {} : { cause },
    );
  }

  /** The error a secret read is refused with (fail closed: the rules and rate limits in force are not known). */
  readRefusal(cause?: unknown): UnavailableError {
    return new UnavailableError(
      'database-unreachable',
      `The database cannot be reached, so no secret is returned: this daemon cannot know the rules and rate limits in force. Try again in a few seconds (or through another daemon); if it lasts, an administrator must check the database server and the network to it.`,
      DATABASE_RETRY_SECONDS,
      { resultCode: 'InternalError', ...(cause === undefined ? {} : { cause }) },
    );
  }

  #set(reachable: boolean): void {
    if (this.#reachable === reachable) return;
    this.#reachable = reachable;
    for (const listener of this.#listeners) listener(reachable);
  }
}
