/**
 * What has been opened, closed in the reverse order of opening: each close is awaited before the
 * next, and one that fails does not leave the others open. Used by openDaemon both for a normal close
 * and for an open that fails half-way.
 */
export class CloseStack {
  readonly #closes: { name: string; close: () => unknown }[] = [];
  #closing: Promise<void> | undefined;

  /** Registers how to close what was just opened (`name` says what, in a failure). */
  push(name: string, close: () => unknown): void {
    if (this.#closing) throw new Error(`${name} was opened after closing began`);
    this.#closes.push({ name, close });
  }

  /**
   * Closes everything, newest first. Rejects once all have run: with the failure itself when one
   * failed, with an AggregateError naming them when several did. A second call waits for the first.
   */
  close(): Promise<void> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<void> {
    const failures: { name: string; error: unknown }[] = [];
    for (const { name, close } of [...this.#closes].reverse()) {
      try {
        await close();
      } catch (error) {
        failures.push({ name, error });
      }
    }
    if (failures.length === 1) throw failures[0]!.error;
    if (failures.length > 1) {
      throw new AggregateError(failures.map((f) => f.error), `could not close ${failures.map((f) => f.name).join(', ')}`);
    }
  }
}
