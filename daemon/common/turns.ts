/**
 * Waiting for what the event loop sends next, for the group commits that batch the appends of one turn
 * (the audit trail in a file and in PostgreSQL).
 */

/**
 * Resolves after two turns of the check phase. An append made in a turn waits for this before its
 * batch is sealed and written, so that what the caller starts next (a read's request to Graph for the
 * secret, which the event is written alongside) goes out first, and the appends of that turn share
 * the batch. Two turns: undici sends a request on a kept-alive connection from a setImmediate of its
 * own (it first lets the poll phase see whether the server closed it), and that one is to go first.
 */
export async function afterWhatGoesOutNext(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}
