/**
 * Faults a test can arm for the next N requests whose path starts with a prefix: the failures a Graph
 * client must survive (throttling, outages, hangs, broken connections, broken bodies) on demand. And a
 * standing delay per prefix (`setLatency`): a tenant as far away as a real one, for benchmarks.
 */
export type FaultKind =
  /** Answer normally, but only after `latencyMs`. */
  | 'latency'
  /** 429 TooManyRequests, with `Retry-After: retryAfter` when given. */
  | 'throttle'
  /** 503 (or `status`, e.g. 504), with Retry-After when given. */
  | 'unavailable'
  /** Accept the request and never answer (the client's deadline must fire). */
  | 'hang'
  /** Drop the connection without an answer (the client sees the socket close mid-request). */
  | 'reset'
  /** 200 with a truncated JSON body. */
  | 'malformed'
  /**
   * The bearer token or credential is refused: Graph answers 401 InvalidAuthenticationToken (as for a
   * revoked token), the token endpoint 401 invalid_client (a credential Entra no longer accepts).
   */
  | 'rejectToken';

export interface FaultSpec {
  kind: FaultKind;
  /** How many matching requests it applies to (default 1). */
  times?: number;
  latencyMs?: number;
  /** Seconds (fractional allowed, e.g. 0.2) or an HTTP date; omitted: no Retry-After header. */
  retryAfter?: number | string;
  /** For `unavailable`: 503 (default) or 504. */
  status?: 503 | 504;
}

interface ArmedFault extends FaultSpec {
  pathPrefix: string;
  remaining: number;
}

export class Faults {
  #armed: ArmedFault[] = [];
  /** Standing delays by path prefix, until changed; not consumed, and not cleared by clear(). */
  readonly #latency = new Map<string, number>();

  /** Arms `spec` for the next `spec.times` requests under `pathPrefix` (e.g. `/v1.0/devices`). Faults fire in the order armed. */
  inject(pathPrefix: string, spec: FaultSpec): this {
    this.#armed.push({ ...spec, pathPrefix, remaining: spec.times ?? 1 });
    return this;
  }

  /** The fault for this request, if any; consumes one use of it. */
  take(path: string): FaultSpec | undefined {
    const fault = this.#armed.find((f) => path.startsWith(f.pathPrefix));
    if (!fault) return undefined;
    if (--fault.remaining <= 0) this.#armed.splice(this.#armed.indexOf(fault), 1);
    return fault;
  }

  /** Uses still armed (under `pathPrefix`, or all). */
  pending(pathPrefix = ''): number {
    return this.#armed.filter((f) => f.pathPrefix.startsWith(pathPrefix)).reduce((sum, f) => sum + f.remaining, 0);
  }

  clear(): void {
    this.#armed = [];
  }

  /**
   * Delays every request under `pathPrefix` by `latencyMs` before it is answered (or faulted), from now
   * until changed; 0 removes it. Where prefixes overlap, the longest one applies.
   */
  setLatency(pathPrefix: string, latencyMs: number): this {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError(`latencyMs must be a finite number >= 0, not ${latencyMs}`);
    if (latencyMs === 0) this.#latency.delete(pathPrefix);
    else this.#latency.set(pathPrefix, latencyMs);
    return this;
  }

  /** The standing delay for a request to `path` (0 when none applies). */
  latencyFor(path: string): number {
    let best: [prefix: string, ms: number] | undefined;
    for (const [prefix, ms] of this.#latency) if (path.startsWith(prefix) && (!best || prefix.length > best[0].length)) best = [prefix, ms];
    return best?.[1] ?? 0;
  }
}
