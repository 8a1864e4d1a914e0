/**
 * The keyed hash chain: how an event is hashed, how a file of events is read line by line, and how a
 * chain is checked. Shared by the log (which checks the whole file when it opens) and `verifyAuditLog`.
 *
 * hash = HMAC-SHA256, lowercase hex, under the trail's chain key, of `prevHash` followed by the
 * canonical form of the event without its `hash` field. The chain key is derived from the master key
 * with HKDF-SHA256 (salt: the trail's id, info: `amsd audit chain v1`), so only someone holding the
 * master key can write or recompute a link, and a trail from another data directory (or an archived
 * one) does not verify as this one. The canonical form is JSON without whitespace whose object keys
 * are sorted by UTF-16 code units (JavaScript's default sort), arrays kept in order, keys with undefined
 * values left out, strings and numbers written as JSON.stringify writes them. The hash covers the
 * content, not the bytes: a line re-indented or with its keys reordered still verifies, a changed value
 * does not.
 *
 * Trails written before the chain was keyed used plain SHA-256 over the same input ("unkeyed").
 * Such events are accepted only as the start of a trail, up to the `audit.rekeyed` event that
 * `amsd audit rekey` appends (keyed, continuing from their last hash); an unkeyed event after a keyed
 * one is a break, and a trail with no keyed event at all is refused (`unkeyed`) unless asked for.
 */
import { createHash, createHmac, hkdfSync, randomUUID } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { eventIdOf, type AuditEvent, type AuditEventInput } from './events.js';

export const GENESIS_HASH = '0'.repeat(64);

export function canonicalJson(value: unknown): string {
  // JSON.stringify writes an object's keys in the order they were added, natively: a copy whose keys
  // were added in sorted order is written in the canonical form. That copy is a few small objects,
  // where building the text by hand left ~4 KB of intermediate strings per audit event.
  const sorted = sortedCopy(value);
  return sorted === UNSORTABLE ? canonicalJsonByHand(value) : JSON.stringify(sorted);
}

/** A copy could not keep the sorted order: the hand-written form then. */
const UNSORTABLE = Symbol('unsortable');

/**
 * `value` with every object's keys added in sorted order, or UNSORTABLE when an object has a key that
 * an object does not keep where it was added: integer-like keys (always first, in numeric order) and
 * `__proto__` (which sets the prototype).
 */
function sortedCopy(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = sortedCopy(value[i]);
      if (item === UNSORTABLE) return UNSORTABLE;
      copy[i] = item;
    }
    return copy;
  }
  const record = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const key of sortedKeys(record)) {
    if (key === '__proto__' || isIntegerLike(key)) return UNSORTABLE;
    const item = sortedCopy(record[key]);
    if (item === UNSORTABLE) return UNSORTABLE;
    copy[key] = item;
  }
  return copy;
}

/** An array index as objects order them: digits, no leading zero, below 2^32 - 1. */
function isIntegerLike(key: string): boolean {
  const first = key.charCodeAt(0);
  return first >= 48 && first <= 57 && /^(?:0|[1-9]\d*)$/.test(key) && Number(key) < 4294967295;
}

function canonicalJsonByHand(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out += (i === 0 ? '' : ',') + (item === undefined ? 'null' : canonicalJsonByHand(item));
    }
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of sortedKeys(record)) {
    const item = record[key];
    if (item === undefined) continue;
    out += (out.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + canonicalJsonByHand(item);
  }
  return out + '}';
}

/**
 * The object's keys in UTF-16 code unit order, as `Object.keys(o).sort()` gives them: by insertion, in
 * place, since events have a dozen keys at most and Array.prototype.sort allocates a work copy.
 */
function sortedKeys(record: object): string[] {
  const keys = Object.keys(record);
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

/** The key one trail is chained under; make it with `chainKeyFor`. */
export interface ChainKey {
  readonly trailId: string;
  readonly key: Buffer;
}

const CHAIN_KEY_INFO = 'amsd audit chain v1';

/** Derives the chain key of trail `trailId` from the master key (HKDF-SHA256). */
export function chainKeyFor(masterKey: Buffer, trailId: string): ChainKey {
  return { trailId, key: Buffer.from(hkdfSync('sha256', masterKey, Buffer.from(trailId, 'utf8'), CHAIN_KEY_INFO, 32)) };
}

function hashInput(event: object): [string, string] {
  const { hash: _ignored, ...content } = event as Record<string, unknown>;
  return [String(content.prevHash), canonicalJson(content)];
}

/** The hash an event must carry, computed from everything in it but `hash`, under the trail's key. */
export function hashEvent(event: object, key: ChainKey): string {
  const [prevHash, content] = hashInput(event);
  return createHmac('sha256', key.key).update(prevHash).update(content).digest('hex');
}

/** The unkeyed hash of trails written before the chain was keyed: plain SHA-256 that anyone can recompute. */
export function unkeyedHashEvent(event: object): string {
  const [prevHash, content] = hashInput(event);
  return createHash('sha256').update(prevHash).update(content).digest('hex');
}

/** HMAC of a small record (amsd.json's checkpoint) under a trail's key, with a label so it cannot pass for an event hash. */
export function macRecord(label: string, record: unknown, key: ChainKey): string {
  return createHmac('sha256', key.key).update(`${label}\n`).update(canonicalJson(record)).digest('hex');
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

/**
 * The lines of a file read through `handle`, with their byte offsets, one chunk in memory at a time:
 * from its start, or from `from` (the offset where line `number + 1` begins).
 */
export async function* readLines(handle: FileHandle, from: { offset: number; number: number } = { offset: 0, number: 0 }): AsyncGenerator<FileLine> {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let position = from.offset;
  let number = from.number;
  let lineStart = from.offset;
  let partial: Buffer[] = [];
  for (;;) {
    const { bytesRead } = await handle.read(chunk, 0, CHUNK_BYTES, position);
    if (bytesRead === 0) break;
    const data = chunk.subarray(0, bytesRead);
    let from = 0;
    for (let newline = data.indexOf(10); newline !== -1; newline = data.indexOf(10, from)) {
      // A line inside this chunk is decoded in place; only one that began in an earlier chunk is joined first.
      const bytes = partial.length === 0 ? data.subarray(from, newline) : Buffer.concat([...partial, data.subarray(from, newline)]);
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
    yield { number: number + 1, offset: lineStart, length: bytes.length, text: bytes.toString('utf8'), terminated: false };
  }
}

export type ChainBreakReason =
  | 'invalid-json'
  | 'invalid-event'
  | 'hash-mismatch'
  | 'unkeyed'
  | 'seq-mismatch'
  | 'prev-hash-mismatch'
  | 'cut-at-end'
  | 'checkpoint-mismatch';

export interface ChainBreak {
  line: number;
  /** The seq the line claims, when it has one. */
  seq?: number;
  reason: ChainBreakReason;
  /** What it means, for a person: e.g. `hash mismatch — the event was changed after it was written`. */
  detail: string;
}

/** The head of the trail as amsd.json last recorded it: the trail must still reach it. */
export interface Checkpoint {
  seq: number;
  hash: string;
  time?: string;
}

export interface ChainCheckOptions {
  /** Accept a trail with no keyed event (`amsd audit rekey`, which is about to key it). */
  allowUnkeyed?: boolean;
  /** The last checkpoint: a trail that no longer reaches it, or holds another event there, was cut or replaced. */
  checkpoint?: Checkpoint;
  /**
   * Start-up's check: trust the events before the checkpoint, which were checked when it was written
   * (their hashes are not recomputed; their seqs and links still are), and check in full the
   * checkpoint's own event, which must carry the checkpointed hash, and every event after it. Tampering
   * before the checkpoint is left to the full check (`amsd audit verify`).
   */
  fromCheckpoint?: boolean;
  /**
   * On start-up's check, go on after an event before the checkpoint, as if every line up to it had
   * been read and trusted (the index cache vouches that those bytes are the ones checked before).
   */
  resumeAfter?: ChainResume;
}

/** Where start-up's check goes on from (see ChainCheckOptions.resumeAfter); read from the trail itself. */
export interface ChainResume {
  /** The last event taken as read; before the checkpoint's. */
  seq: number;
  /** Its hash. */
  hash: string;
  /** The trail's first seq, and the prevHash of its first line. */
  firstSeq: number;
  firstPrevHash: string;
  /** Whether an audit.pruned event up to `seq` accounts for a trail that starts after seq 1. */
  pruningAccountedFor: boolean;
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Follows a chain one line at a time; the first line that does not continue it is the break.
 *
 * A trail may start after seq 1 when retention pruned its oldest events: its first line then names the
 * last pruned event's hash as prevHash, and an `audit.pruned` event further on must account for exactly
 * that cut (which seqs, which hash). Without one, the missing start is a break (`finish`). Being keyed,
 * such an event cannot be forged by someone who cut the start off.
 */
export class ChainChecker {
  /** The seq of the last event checked and found intact so far. */
  events = 0;
  lastHash = GENESIS_HASH;
  /** The first seq of the trail (1 unless it was pruned). */
  firstSeq = 1;
  /**
   * The seq of the first keyed event; undefined while every event so far is unkeyed (or there is none).
   * On start-up's check (`fromCheckpoint`) the events before the checkpoint are not hashed: then it is
   * the checkpoint's seq when that event is keyed.
   */
  keyedFrom: number | undefined;
  /** Unkeyed events at the start of the trail (written before it was keyed). */
  unkeyedEvents = 0;
  #lines = 0;
  /** Lines trusted up to the checkpoint, not hashed: they say nothing about whether the trail is keyed. */
  #unhashedLines = 0;
  #startsAfterPruning = false;
  #pruningAccountedFor = false;
  #anchor: string | undefined;
  #hashAtCheckpoint: string | undefined;

  constructor(
    private readonly key: ChainKey,
    private readonly options: ChainCheckOptions = {},
  ) {
    const resume = options.resumeAfter;
    if (!resume) return;
    if (!(options.fromCheckpoint && resume.seq >= resume.firstSeq && resume.seq < (options.checkpoint?.seq ?? 0))) {
      throw new RangeError(`The chain check can only resume before the checkpoint, on start-up's check (asked to resume after seq ${resume.seq})`);
    }
    // What check() leaves after the lines firstSeq..seq, every one of them trusted (before the checkpoint).
    this.events = resume.seq;
    this.lastHash = resume.hash;
    this.firstSeq = resume.firstSeq;
    this.#lines = this.#unhashedLines = resume.seq - resume.firstSeq + 1;
    if (resume.firstSeq > 1) {
      this.#startsAfterPruning = true;
      this.#anchor = resume.firstPrevHash;
      this.#pruningAccountedFor = resume.pruningAccountedFor;
    }
  }

  /** Whether the event claiming `seq` is before the checkpoint, on start-up's check. */
  #trusted(seq: number): boolean {
    return this.options.fromCheckpoint === true && seq < (this.options.checkpoint?.seq ?? 0);
  }

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
    if (this.#trusted(seq)) {
      this.#unhashedLines++; // trusted up to the checkpoint: see ChainCheckOptions.fromCheckpoint
    } else if (hashEvent(event, this.key) !== event.hash) {
      const unkeyed = unkeyedHashEvent(event) === event.hash;
      if (!unkeyed) {
        return at('hash-mismatch', 'hash mismatch — the event was changed after it was written (or the trail was written under another master key, or for another data directory)', seq);
      }
      if (this.keyedFrom !== undefined) {
        return at('unkeyed', 'the hash is plain SHA-256, not keyed: the event was written or recomputed by someone without the master key', seq);
      }
      this.unkeyedEvents++;
    } else {
      this.keyedFrom ??= seq;
    }
    if (this.#lines++ === 0 && seq > 1) {
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
    if (seq === this.options.checkpoint?.seq) this.#hashAtCheckpoint = event.hash;
    const pruned = event.pruned as { throughSeq?: unknown; lastHash?: unknown } | undefined;
    if (event.type === 'audit.pruned' && pruned?.throughSeq === this.firstSeq - 1 && pruned.lastHash === this.#anchor) this.#pruningAccountedFor = true;
    return { event: event as unknown as AuditEvent };
  }

  /**
   * After the last complete line: a trail that starts after seq 1 must say, in the chain, that it was
   * pruned there; one with events must be keyed; and it must still reach the last checkpoint.
   * `unfinishedLine` is the number of a last line without newline, if there is one.
   */
  finish(unfinishedLine?: number): { broken: ChainBreak } | undefined {
    const broken = (line: number, reason: ChainBreakReason, detail: string, seq?: number) => ({
      broken: { line, ...(seq === undefined ? {} : { seq }), reason, detail },
    });
    if (this.#startsAfterPruning && !this.#pruningAccountedFor) {
      return broken(1, 'seq-mismatch', `the trail starts at seq ${this.firstSeq}, and no audit.pruned event accounts for events 1 to ${this.firstSeq - 1} — they were removed`, this.firstSeq);
    }
    if (this.#lines > this.#unhashedLines && this.keyedFrom === undefined && !this.options.allowUnkeyed) {
      return broken(
        1,
        'unkeyed',
        'no event is keyed — the hashes are plain SHA-256, which anyone can recompute: a trail written by an amsd from before keyed trails, or one recomputed by someone without the master key',
        this.firstSeq,
      );
    }
    const checkpoint = this.options.checkpoint;
    if (!checkpoint) return undefined;
    const when = checkpoint.time ? ` at ${checkpoint.time}` : '';
    if (this.events < checkpoint.seq) {
      const end = this.events === 0 ? 'the trail holds no event' : `the trail ends at seq ${this.events}`;
      const unfinished = unfinishedLine === undefined ? '' : ` (line ${unfinishedLine} is incomplete, yet it was acknowledged)`;
      return broken(
        this.#lines + 1,
        'cut-at-end',
        `cut at its end — ${end}${unfinished}, but the checkpoint in amsd.json${when} says seq ${checkpoint.seq} was written: events ${this.events + 1} to ${checkpoint.seq} are missing`,
      );
    }
    // A checkpoint older than the first kept event was pruned away with it: reaching past it is all that can be checked.
    if (checkpoint.seq >= this.firstSeq && checkpoint.seq > 0 && this.#hashAtCheckpoint !== checkpoint.hash) {
      return broken(
        checkpoint.seq - this.firstSeq + 1,
        'checkpoint-mismatch',
        `event seq ${checkpoint.seq} is not the one amsd.json checkpointed${when} — the trail was replaced by another one`,
        checkpoint.seq,
      );
    }
    return undefined;
  }
}

export type AuditVerifyResult =
  | {
      ok: true;
      /** The seq of the last event. */
      events: number;
      /** The seq of the first event: 1, or where retention pruning cut the trail. */
      firstSeq?: number;
      /** The last event's hash (64 zeros when empty). */
      lastHash: string;
      lastTime?: string;
      /** The first keyed event; before it, events written by an amsd from before keyed trails. Absent when nothing is keyed. */
      keyedFrom?: number;
      /** A last line without newline: a write that never finished (never acknowledged). amsd moves it to an evidence file when it opens the log. */
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
 * file is ENOENT). The keyed chain proves nothing was edited, removed, reordered or recomputed inside
 * the file; the checkpoint (from amsd.json) shows events cut from its end, back to when it was written.
 */
export async function verifyAuditLog(path: string, key: ChainKey, options: ChainCheckOptions = {}): Promise<AuditVerifyResult> {
  const handle = await open(path, 'r');
  try {
    return await verifyChain(readLines(handle), key, options);
  } finally {
    await handle.close();
  }
}

/**
 * Checks a whole chain given as lines, first to last (a file's, or a table's rows in seq order, one
 * row a line): the check `verifyAuditLog` makes of a file, for any source of events.
 */
export async function verifyChain(
  lines: AsyncIterable<Pick<FileLine, 'number' | 'text' | 'length' | 'terminated'>>,
  key: ChainKey,
  options: ChainCheckOptions = {},
): Promise<AuditVerifyResult> {
  const checker = new ChainChecker(key, options);
  let lastTime: string | undefined;
  let unfinished: { line: number; bytes: number } | undefined;
  for await (const line of lines) {
    if (!line.terminated) {
      unfinished = { line: line.number, bytes: line.length };
      break;
    }
    const result = checker.check(line);
    if ('broken' in result) return { ok: false, events: checker.events, firstBroken: result.broken };
    lastTime = result.event.time;
  }
  const atEnd = checker.finish(unfinished?.line);
  if (atEnd) return { ok: false, events: atEnd.broken.reason === 'cut-at-end' ? checker.events : 0, firstBroken: atEnd.broken };
  return {
    ok: true,
    events: checker.events,
    firstSeq: checker.firstSeq,
    lastHash: checker.lastHash,
    ...(lastTime ? { lastTime } : {}),
    ...(checker.keyedFrom !== undefined ? { keyedFrom: checker.keyedFrom } : {}),
    ...(unfinished ? { unfinishedLastLine: unfinished } : {}),
  };
}

/**
 * Makes the stored event: chain fields first (the order a person reading the file wants), then the
 * content, then `hash`. `content` must already be plain JSON data, so the hash is over exactly what
 * a reader will parse back.
 */
export function sealEvent(content: AuditEventInput, seq: number, prevHash: string, key: ChainKey, time = new Date()): AuditEvent {
  const event: Record<string, unknown> = { seq, id: randomUUID(), time: time.toISOString(), eventId: eventIdOf(content) };
  // A JavaScript caller could pass chain fields in `content`: ours win. (A loop, not spreads: every event passes here.)
  for (const name of Object.keys(content)) if (!CHAIN_FIELDS.has(name)) event[name] = (content as unknown as Record<string, unknown>)[name];
  event.prevHash = prevHash;
  event.hash = createHmac('sha256', key.key).update(prevHash).update(canonicalJson(event)).digest('hex'); // = hashEvent(event, key)
  return event as unknown as AuditEvent;
}

const CHAIN_FIELDS: ReadonlySet<string> = new Set(['seq', 'id', 'time', 'eventId', 'prevHash', 'hash']);
