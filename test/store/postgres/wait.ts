/**
 * Waiting for a store to announce a change (another daemon's, say), with a bound rather than a sleep.
 */
import type { CommittedChange, Store } from '../../../daemon/store/store.js';

/** The next change a store announces that `matches`, within `ms` (the bound is the requirement, not a measurement). */
export function nextChange(store: Store, matches: (change: CommittedChange) => boolean, ms = 1000): Promise<CommittedChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no such change was announced within ${ms} ms`));
    }, ms);
    const off = store.subscribe((change) => {
      if (!matches(change)) return;
      clearTimeout(timer);
      off();
      resolve(change);
    });
  });
}
