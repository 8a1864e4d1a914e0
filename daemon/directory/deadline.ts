/**
 * One time budget for everything a request asks of Entra and Graph: device lookup, groups, the secret,
 * and the token requests MSAL makes on the way. It travels with the request's async context, because
 * token requests are made by MSAL, which no parameter of ours passes through. Every wait (a call, a
 * Retry-After, a backoff) is cut to what is left of it; a call started once it has run out fails at once.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface Deadline {
  /** Epoch milliseconds at which the budget runs out. */
  at: number;
  budgetMs: number;
  /** Names the budget in errors, e.g. `the secret read's budget (secretReadTimeoutSeconds)`. */
  what: string;
}

const current = new AsyncLocalStorage<Deadline>();

/** Runs `work` with a budget of `budgetMs` for its directory calls. */
export function withDeadline<T>(budgetMs: number, what: string, work: () => Promise<T>): Promise<T> {
  return current.run({ at: Date.now() + budgetMs, budgetMs, what }, work);
}

/** The budget of the request being served, if it has one. */
export function currentDeadline(): Deadline | undefined {
  return current.getStore();
}

/** The earlier of a call's own limit and the request's budget: when to give up, and which limit it is. */
export function effectiveDeadline(ownMs: number, now = Date.now()): { at: number; deadline?: Deadline } {
  const deadline = current.getStore();
  const own = now + ownMs;
  return deadline && deadline.at < own ? { at: deadline.at, deadline } : { at: own };
}

/** A duration for people: `0.3 s`, `30 s`. */
export function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms / 1000)} s`;
}
