/**
 * Runs tasks one at a time, in the order they were given: the promise-chain mutex the store, the
 * audit trail and the notification queue each need, written once.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task given before it has settled; a failure is passed on, not to the next task. */
  run<T>(task: () => Promise<T> | T): Promise<T> {
    const next = this.#tail.then(task, task);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every task given so far has settled. */
  async idle(): Promise<void> {
    await this.#tail;
  }
}
