/**
 * A map whose entries expire. Expired entries are dropped, not only ignored, so a long-running daemon
 * asked about many distinct names does not keep every answer it ever got.
 */
export class TtlCache<V> {
  readonly #entries = new Map<string, { at: number; value: V }>();
  #nextSweep = 0;

  /** Changing it applies to what is already cached. */
  constructor(public ttlMs: number) {}

  get(key: string, now = Date.now()): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (now - entry.at >= this.ttlMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: V, now = Date.now()): void {
    this.#entries.set(key, { at: now, value });
    // At most once per lifetime, sweep what has expired: O(size) amortised over many writes.
    if (now >= this.#nextSweep) {
      for (const [k, entry] of this.#entries) if (now - entry.at >= this.ttlMs) this.#entries.delete(k);
      this.#nextSweep = now + this.ttlMs;
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}
