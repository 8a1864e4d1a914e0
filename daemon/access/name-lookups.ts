/**
 * The directory lookups of one rule write or import: each distinct entry is asked of Graph once, however
 * many rows name it, and at most `concurrency` lookups are in flight at once across all rows. Lives for
 * one request only, so answers still reflect the directory as it is now (directory-names.ts).
 */
export class NameLookups {
  readonly #answers = new Map<string, Promise<unknown>>();
  readonly #waiting: (() => void)[] = [];
  #running = 0;
  #stopped: unknown;

  constructor(private readonly concurrency: number) {}

  /**
   * The answer for `key`: the one already asked for, or `lookup()` run when a slot is free. A refusal
   * is shared too, so every row naming an unknown entry is told so.
   */
  once<T>(key: string, lookup: () => Promise<T>): Promise<T> {
    let answer = this.#answers.get(key) as Promise<T> | undefined;
    if (!answer) {
      answer = this.#run(lookup);
      this.#answers.set(key, answer);
    }
    return answer;
  }

  /** Starts no further lookup: the request failed (for instance, Graph is unavailable) and its answer is known. */
  stop(reason: unknown): void {
    this.#stopped ??= reason;
    for (const start of this.#waiting.splice(0)) start();
  }

  async #run<T>(lookup: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrency) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- the lookups' own failure, passed on as it was thrown
    if (this.#stopped !== undefined) throw this.#stopped;
    this.#running++;
    try {
      return await lookup();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }
}
