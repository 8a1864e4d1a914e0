/** Small statistics for the benchmark: percentiles, interleaved rounds, closed loops, round-trip chains. */

/** The nearest-rank percentile (p in 0..100) of the samples; NaN for none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export const median = (samples: readonly number[]): number => percentile(samples, 50);

/** Milliseconds since `start` (a performance.now() value). */
export const since = (start: number): number => performance.now() - start;

/**
 * Runs `run(round)` for each candidate in turn, `rounds` times, so that both sides of a ratio see the
 * same moments of a machine others are loading (a burst of load hits both, not one).
 */
export async function interleave<K extends string>(rounds: number, candidates: Record<K, (round: number) => Promise<void>>): Promise<void> {
  const names = Object.keys(candidates) as K[];
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so neither always follows the other's leftovers (GC, sockets).
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) await candidates[name](round);
  }
}

/**
 * `concurrency` workers calling `once` back to back until `count` calls have started (or, with
 * `durationMs`, until that much time has passed); the latency of each call in ms, in completion order.
 */
export async function closedLoop(once: () => Promise<void>, options: { concurrency: number; count?: number; durationMs?: number }): Promise<{ latencies: number[]; elapsedMs: number }> {
  const latencies: number[] = [];
  const started = performance.now();
  let issued = 0;
  const more = () => (options.count !== undefined ? issued < options.count : since(started) < options.durationMs!);
  const worker = async () => {
    while (more()) {
      issued++;
      const t0 = performance.now();
      await once();
      latencies.push(since(t0));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return { latencies, elapsedMs: since(started) };
}

/**
 * The longest chain of calls in which each starts once the one before it has answered: the round
 * trips a caller waited for one after another. Calls that overlap count once.
 */
export function sequentialRoundTrips(calls: readonly { at: number; endedAt?: number }[]): number {
  const sorted = [...calls].sort((a, b) => a.at - b.at);
  const depth: number[] = [];
  sorted.forEach((call, i) => {
    let before = 0;
    for (let j = 0; j < i; j++) if (sorted[j]!.endedAt !== undefined && sorted[j]!.endedAt! <= call.at) before = Math.max(before, depth[j]!);
    depth.push(before + 1);
  });
  return Math.max(0, ...depth);
}
