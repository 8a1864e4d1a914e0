/**
 * One time budget for everything a request asks of Entra and Graph: device lookup, groups, the secret,
 * and the token requests MSAL makes on the way. It is passed along explicitly (`deadline` options) to
 * every call made for the request; MSAL, which no parameter of ours passes through, gets it by the
 * correlation id of its token request (token-provider.ts). Every wait (a call, a Retry-After, a
 * backoff) is cut to what is left of it; a call started once it has run out fails at once.
 *
 * Not an AsyncLocalStorage: on Node 20 one in use puts a hook on every promise the process makes,
 * which cost about a twentieth of a read's CPU and allocations whether or not a budget was set.
 */

export interface Deadline {
  /** Epoch milliseconds at which the budget runs out. */
  at: number;
  budgetMs: number;
  /** Names the budget in errors, e.g. `the secret read's budget (secretReadTimeoutSeconds)`. */
  what: string;
}

/** A budget of `budgetMs` from now. */
export function deadlineIn(budgetMs: number, what: string, now = Date.now()): Deadline {
  return { at: now + budgetMs, budgetMs, what };
}

/** The `deadline` option of a call, when the request it serves has a budget. */
export function deadlineOption(deadline: Deadline | undefined): { deadline?: Deadline } {
  return deadline ? { deadline } : {};
}

/** The earlier of a call's own limit and the request's budget: when to give up, and which limit it is. */
export function effectiveDeadline(ownMs: number, deadline: Deadline | undefined, now = Date.now()): { at: number; deadline?: Deadline } {
  const own = now + ownMs;
  return deadline && deadline.at < own ? { at: deadline.at, deadline } : { at: own };
}

/** A duration for people: `0.3 s`, `30 s`. */
export function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms / 1000)} s`;
}
