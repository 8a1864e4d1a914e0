/**
 * The hash chain: how an event is hashed, how a file of events is read line by line, and how a chain
 * is checked. Shared by the log (which checks the whole file when it opens) and `verifyAuditLog`.
 *
 * hash = SHA-256, lowercase hex, of `prevHash` followed by the canonical form of the event without
 * its `hash` field. The canonical form is JSON without whitespace whose object keys are sorted by
 * UTF-16 code units (JavaScript's default sort), arrays kept in order, keys with undefined values
 * left out, strings and numbers written as JSON.stringify writes them. The hash covers the content,
 * not the bytes: a line re-indented or with its keys reordered still verifies, a changed value does not.
 */
import { createHash, randomUUID } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { eventIdOf, type AuditEvent, type AuditEventInput } from './events.js';

export const GENESIS_HASH = '0'.repeat(64);

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}

/** The hash an event must carry, computed from everything in it but `hash`. */
export function hashEvent(event: object): string {
  const { hash: _ignored, ...content } = event as Record<string, unknown>;
  return createHash('sha256')
    .update(String(content.prevHash))
    .update(canonicalJson(content))
    .digest('hex');
}

export interface FileLine {
  /** 1-based. */
  number: number;
  /** Byte offset of the line's first byte. */
  offset: number;
  /** Length in bytes, without the newline. */
  length: number;
  text: string;
  /** False for a last line that has no newline: a write that did not finish. */
  terminated: boolean;
}

const CHUNK_BYTES = 1 << 20;

/** The lines of a file read through `handle`, with their byte offsets, one chunk in memory at a time. */
export async function* readLines(handle: FileHandle): AsyncGenerator<FileLine> {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let position = 0;
  let number = 0;
  let lineStart = 0;
  let partial: Buffer[] = [];
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, position);
    if (bytesRead === 0) break;
    const data = chunk.subarray(0, bytesRead);
    let from = 0;
    for (let newline = data.indexOf(10); newline !== -1; newline = data.indexOf(10, from)) {
      const bytes = Buffer.concat([...partial, data.subarray(from, newline)]);
      partial = [];
      yield { number: ++number, offset: lineStart, length: bytes.length, text: bytes.toString('utf8'), terminated: true };
      lineStart += bytes.length + 1;
      from = newline + 1;
    }
    // The chunk buffer is reused for the next read: keep a copy of the unfinished line.
    if (from < bytesRead) partial.push(Buffer.from(data.subarray(from)));
    position += bytesRead;
  }
  if (partial.length > 0) {
    const bytes = Buffer.concat(partial);
    yield { number: ++number, offset: lineStart, length: bytes.length, text: bytes.toString('utf8'), terminated: false };
  }
}

export type ChainBreakReason = 'invalid-json' | 'invalid-event' | 'hash-mismatch' | 'seq-mismatch' | 'prev-hash-mismatch';

export interface ChainBreak {
  line: number;
  /** The seq the line claims, when it has one. */
  seq?: number;
  reason: ChainBreakReason;
  /** What it means, for a person: e.g. `hash mismatch — the event was changed after it was written`. */
  detail: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Follows a chain one line at a time; the first line that does not continue it is the break.
 *
 * A trail may start after seq 1 when retention pruned its oldest events: its first line then names the
 * last pruned event's hash as prevHash, and an `audit.pruned` event further on must account for exactly
 * that cut (which seqs, which hash). Without one, the missing start is a break (`finish`).
 */
export class ChainChecker {
  /** The seq of the last event checked and found intact so far. */
  events = 0;
  lastHash = GENESIS_HASH;
  /** The first seq of the trail (1 unless it was pruned). */
  firstSeq = 1;
  #startsAfterPruning = false;
  #pruningAccountedFor = false;

  check(line: Pick<FileLine, 'number' | 'text'>): { event: AuditEvent } | { broken: ChainBreak } {
    const at = (reason: ChainBreakReason, detail: string, seq?: number) => ({
      broken: { line: line.number, ...(seq === undefined ? {} : { seq }), reason, detail },
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(line.text);
    } catch {
      return at('invalid-json', 'not valid JSON — the line was damaged or edited by hand');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return at('invalid-json', 'not a JSON object — the line was damaged or edited by hand');
    }
    const event = parsed as Record<string, unknown>;
    const seq = Number.isSafeInteger(event.seq) ? (event.seq as number) : undefined;
    if (seq === undefined || typeof event.prevHash !== 'string' || typeof event.hash !== 'string' || !HEX64.test(event.hash)) {
      return at('invalid-event', 'not an audit event: seq, prevHash or hash is missing or malformed', seq);
    }
    if (hashEvent(event) !== event.hash) {
      return at('hash-mismatch', 'hash mismatch — the event was changed after it was written', seq);
    }
    if (this.events === 0 && seq > 1 && typeof event.prevHash === 'string') {
      // A pruned trail: it continues from the hash of the last event pruned, which an audit.pruned event must name.
      this.firstSeq = seq;
      this.#startsAfterPruning = true;
      this.events = seq - 1;
      this.lastHash = event.prevHash;
      this.#anchor = event.prevHash;
    }
    const expected = this.events + 1;
    if (seq > expected) {
      return at('seq-mismatch', `expected seq ${expected}, found ${seq} — events before it are missing (removed, or moved further down)`, seq);
    }
    if (seq < expected) {
      return at('seq-mismatch', `expected seq ${expected}, found ${seq} — events were reordered or duplicated`, seq);
    }
    if (event.prevHash !== this.lastHash) {
      return at('prev-hash-mismatch', "prevHash is not the previous event's hash — an event before it was replaced or re-hashed", seq);
    }
    this.events = seq;
    this.lastHash = event.hash;
    const pruned = event.pruned as { throughSeq?: unknown; lastHash?: unknown } | undefined;
    if (event.type === 'audit.pruned' && pruned?.throughSeq === this.firstSeq - 1 && pruned.lastHash === this.#anchorHash()) this.#pruningAccountedFor = true;
    return { event: event as unknown as AuditEvent };
  }

  /** After the last line: a trail that starts after seq 1 must say, in the chain, that it was pruned there. */
  finish(): { broken: ChainBreak } | undefined {
    if (!this.#startsAfterPruning || this.#pruningAccountedFor) return undefined;
    return {
      broken: {
        line: 1,
        seq: this.firstSeq,
        reason: 'seq-mismatch',
        detail: `the trail starts at seq ${this.firstSeq}, and no audit.pruned event accounts for events 1 to ${this.firstSeq - 1} — they were removed`,
      },
    };
  }

  #anchor: string | undefined;
  /** The prevHash of the first line of a pruned trail. */
  #anchorHash(): string | undefined {
    return this.#anchor;
  }
}

export type AuditVerifyResult =
  | {
      ok: true;
      /** The seq of the last event. */
      events: number;
      /** The seq of the first event: 1, or where retention pruning cut the trail. */
      firstSeq?: number;
      /** The last event's hash (64 zeros when empty): note it elsewhere to detect a later truncation. */
      lastHash: string;
      lastTime?: string;
      /** A last line without newline: a write that never finished (never acknowledged). amsd removes it when it opens the log. */
      unfinishedLastLine?: { line: number; bytes: number };
    }
  | {
      ok: false;
      /** Events checked and found intact before the break. */
      events: number;
      firstBroken: ChainBreak;
    };

/**
 * Checks a whole audit file without changing it. Throws only when the file cannot be read (a missing
 * file is ENOENT). A hash chain proves nothing was edited, removed or reordered inside the file; it
 * cannot show that events were cut from its end — compare `lastHash` with one noted earlier for that.
 */
export async function verifyAuditLog(path: string): Promise<AuditVerifyResult> {
  const handle = await open(path, 'r');
  try {
    const checker = new ChainChecker();
    let lastTime: string | undefined;
    let unfinished: { line: number; bytes: number } | undefined;
    for await (const line of readLines(handle)) {
      if (!line.terminated) {
        unfinished = { line: line.number, bytes: line.length };
        break;
      }
      const result = checker.check(line);
      if ('broken' in result) return { ok: false, events: checker.events, firstBroken: result.broken };
      lastTime = result.event.time;
    }
    const unaccounted = checker.finish();
    if (unaccounted) return { ok: false, events: 0, firstBroken: unaccounted.broken };
    return {
      ok: true,
      events: checker.events,
      firstSeq: checker.firstSeq,
      lastHash: checker.lastHash,
      ...(lastTime ? { lastTime } : {}),
      ...(unfinished ? { unfinishedLastLine: unfinished } : {}),
    };
  } finally {
    await handle.close();
  }
}

/**
 * Makes the stored event: chain fields first (the order a person reading the file wants), then the
 * content, then `hash`. `content` must already be plain JSON data, so the hash is over exactly what
 * a reader will parse back.
 */
export function sealEvent(content: AuditEventInput, seq: number, prevHash: string, time = new Date()): AuditEvent {
  const chain = { seq, id: randomUUID(), time: time.toISOString(), eventId: eventIdOf(content) };
  const event: Record<string, unknown> = { ...chain, ...content };
  // A JavaScript caller could pass chain fields in `content`: ours win, and keep their places.
  Object.assign(event, chain, { prevHash });
  delete event.hash;
  return { ...event, hash: hashEvent(event) } as AuditEvent;
}
