/**
 * A string-keyed map whose copies share their entries: the rule index keeps the index a read holds
 * unchanged while a rule change makes the next one, and copying a plain Map of 10,000 rules on every
 * change cost ~1.5 ms of the event loop per rule write. Here the entries are split into SHARDS maps
 * by a hash of the key; `copy()` copies the list of shards, and the first write to a shard through
 * either map copies that shard only (~1/256 of the entries).
 */

const SHARDS = 256;

/** FNV-1a of the key's UTF-16 code units, reduced to a shard number. */
function shardOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % SHARDS;
}

export class CopyOnWriteMap<V> {
  #shards: Map<string, V>[];
  /** Whether this map may change shard i in place (no other map shares it). */
  #owned: boolean[];
  #size: number;

  constructor(entries?: Iterable<readonly [string, V]>, shared?: { shards: Map<string, V>[]; size: number }) {
    this.#shards = shared ? [...shared.shards] : Array.from({ length: SHARDS }, () => new Map<string, V>());
    this.#owned = new Array<boolean>(SHARDS).fill(!shared);
    this.#size = shared?.size ?? 0;
    if (entries) for (const [key, value] of entries) this.set(key, value);
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): V | undefined {
    return this.#shards[shardOf(key)]!.get(key);
  }

  has(key: string): boolean {
    return this.#shards[shardOf(key)]!.has(key);
  }

  set(key: string, value: V): this {
    const shard = this.#own(shardOf(key));
    if (!shard.has(key)) this.#size++;
    shard.set(key, value);
    return this;
  }

  delete(key: string): boolean {
    const at = shardOf(key);
    if (!this.#shards[at]!.has(key)) return false;
    this.#own(at).delete(key);
    this.#size--;
    return true;
  }

  /** A map with the same entries; later writes to either one leave the other as it was. */
  copy(): CopyOnWriteMap<V> {
    this.#owned.fill(false); // the shards are shared now: this map copies before writing too
    return new CopyOnWriteMap<V>(undefined, { shards: this.#shards, size: this.#size });
  }

  *entries(): IterableIterator<[string, V]> {
    for (const shard of this.#shards) yield* shard.entries();
  }

  *values(): IterableIterator<V> {
    for (const shard of this.#shards) yield* shard.values();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  #own(at: number): Map<string, V> {
    if (!this.#owned[at]) {
      this.#shards[at] = new Map(this.#shards[at]);
      this.#owned[at] = true;
    }
    return this.#shards[at]!;
  }
}
