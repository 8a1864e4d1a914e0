/**
 * The store the rest of the daemon uses. One implementation today (a JSON file through lowdb); the
 * interface is what a later backend (PostgreSQL, for several daemons) has to provide.
 */
import type { State } from './state.js';

export type DeepReadonly<T> = T extends (infer U)[]
  ? ReadonlyArray<DeepReadonly<U>>
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export interface Store {
  /** The state as last durably written. Never modify it: change it through `mutate`. */
  readonly state: DeepReadonly<State>;
  /**
   * Applies `change` to a copy of the state and writes it durably. Changes run one at a time; the
   * promise resolves once the new state is on disk. If `change` throws or the write fails, the state
   * stays as it was and the error is passed on.
   *
   * `beforeCommit` runs after `change` succeeded and before the state is written: a change that
   * must be audited is recorded there, and is not made at all when the record cannot be written.
   */
  mutate<T>(change: (draft: State) => T, beforeCommit?: (result: T) => Promise<void>): Promise<T>;
  /** Waits for pending writes, then stops accepting changes. */
  close(): Promise<void>;
}
