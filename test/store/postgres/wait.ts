/**
 * Waiting for a store to announce a change (another daemon's, say), with a bound rather than a sleep.
 */
import type { CommittedChange, Store } from '../../../daemon/store/store.js';

/**
 * The next change a store announces that `matches`, within `ms`. A bound against a hang, not a
 * measurement: on a loaded CI machine a notification can take longer than the second the README
 * promises, which `npm run bench` measures (no test times anything).
 */
export function nextChange(store: Store, matches: (change: CommittedChange) => boolean, ms = 10_000): Promise<CommittedChange> {
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
