/**
 * The audit trail: an append-only JSON Lines file (`<dataDir>/audit/audit.jsonl`), one hash-chained
 * event per line. An append resolves only once its line is written and fsync'ed, so a secret handed
 * out after `await log.append(...)` always has its event on disk.
 *
 * - Group commit: an append to an idle log is written at once; appends that arrive while a write and
 *   fsync are in flight wait, and then go together in the next single write and fsync.
 * - A failed write or fsync rejects every append of its batch (callers answer 503 and keep the
 *   secret) and truncates the file back to its last acknowledged length, so no half-written or
 *   unchained line stays. The chain does not advance: the next batch rewrites the same seqs. If the
 *   truncation fails too, each later batch retries it first and is refused until it succeeds — so
 *   once the disk works again, appends work again, with the chain intact.
 * - Opening reads the whole file (and builds the query index) and checks the chain, keyed with the
 *   trail's chain key and against the last checkpoint of its head (see trail.ts); at start-up, after
 *   the events the index cache vouches for (index-cache.ts) when it matches the trail, and from
 *   that checkpoint on (`fromCheckpoint`), re-hashing only the events written since. A last line without a
 *   newline after the checkpoint is a write that never finished: it is moved to an evidence file next
 *   to the trail, and `warning` says so. Any other break refuses the open: amsd never writes on after
 *   a chain it cannot trust.
 * - After a crash, events written but not yet acknowledged may survive: the trail can record a
 *   request whose answer was lost, never hand out an answer it did not record.
 */
import { constants } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AuditWriteError } from '../common/errors.js';
import { atomicWrite, nodeAppendIo, removeLeftoverTempFiles, syncDirectory, type AppendFileIo } from '../common/durable-files.js';
import { SerialQueue } from '../common/serial.js';
import { afterWhatGoesOutNext } from '../common/turns.js';
import { ChainChecker, readLines, sealEvent, type ChainBreak, type ChainKey, type Checkpoint } from './chain.js';
import { AuditEventIndex, parseAuditQuery, type AuditPage, type AuditQuery, type IndexSnapshot } from './event-index.js';
import { loadIndexCache, type IndexCacheResult } from './index-cache.js';
import { checkEventInput, type AuditEvent, type AuditEventInput } from './events.js';
import type { AuditTrail } from './audit-trail.js';

export const AUDIT_DIR = 'audit';
export const AUDIT_FILE = 'audit.jsonl';

export function auditLogPath(dataDir: string): string {
  return join(dataDir, AUDIT_DIR, AUDIT_FILE);
}

/** The data directory of a trail at `<dataDir>/audit/audit.jsonl`. */
export function dataDirOfTrail(file: string): string {
  return dirname(dirname(file));
}

/** What to do about a trail amsd refuses, for the end of its message. */
export function adviceFor(file: string, broken: Pick<ChainBreak, 'reason'>): string {
  const dataDir = dataDirOfTrail(file);
  return broken.reason === 'unkeyed'
    ? `If this data directory was last served by an amsd from before keyed audit trails, run \`amsd audit rekey --data-dir ${dataDir}\` once to key it from here on; otherwise keep the trail as evidence.`
    : `Keep it as evidence (restore it from a backup if you have one); \`amsd audit reset --data-dir ${dataDir} --confirm\` archives it and starts a new trail.`;
}

/** The audit file exists but its chain is broken: the daemon stops with this message, the file is left as it is. */
export class AuditLogError extends Error {
  constructor(readonly file: string, readonly broken: ChainBreak) {
    super(
      `The audit trail ${file} is broken at line ${broken.line}${broken.seq === undefined ? '' : ` (seq ${broken.seq})`}: ${broken.detail}. ` +
        `amsd has not changed it and will not add to it. ${adviceFor(file, broken)} ` +
        '`amsd audit verify` checks a trail without opening it.',
    );
    this.name = 'AuditLogError';
  }
}

// The error lives in the errors leaf, so that whoever maps it (http/) need not import the audit log.
export { AuditWriteError } from '../common/errors.js';

/** The file operations the trail's appends depend on (swappable in tests). */
export type AuditFileIo = AppendFileIo;

export interface OpenAuditLogOptions {
  /** The trail's chain key (see chain.ts): every event is hashed and checked under it. */
  key: ChainKey;
  /** The head as amsd.json last recorded it: the trail must still reach it (see trail.ts). */
  checkpoint?: Checkpoint;
  /** Accept a trail with no keyed event: only for `amsd audit rekey`, which keys it. */
  allowUnkeyed?: boolean;
  /** Start-up: check the chain from the checkpoint on, trusting what came before it (see ChainCheckOptions). */
  fromCheckpoint?: boolean;
  /** Start-up: the index cache to go on from when it matches the trail (index-cache.ts; needs `fromCheckpoint` and `checkpoint`). */
  indexCache?: string;
  io?: Partial<AuditFileIo>;
}

export interface OpenedAuditLog {
  log: AuditLog;
  /** Set when an unfinished last line was moved aside: worth a warning in the daemon's log. */
  warning?: string;
  /** The evidence file the unfinished last line was moved to. */
  evidenceFile?: string;
  /** With `indexCache`: 'used', or why the whole trail was read instead. */
  indexCache?: string;
}

/** Where retention writes the pruned trail before renaming it over the old one. */
const pruningTempFile = (file: string) => `${file}.pruning`;

export async function openAuditLog(file: string, options: OpenAuditLogOptions): Promise<OpenedAuditLog> {
  const io = { ...nodeAppendIo, ...options.io };
  const firstCreatedDir = await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  if (firstCreatedDir) await syncDirectory(dirname(firstCreatedDir));
  // A pruning cut short by a crash before its rename: the trail itself was not touched yet.
  await rm(pruningTempFile(file), { force: true });
  // Not O_APPEND: writes go to an explicit position, the end of the last acknowledged line.
  const handle = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  try {
    const cache = await usableIndexCache(handle, options);
    const cached = cache && 'usable' in cache ? cache.usable : undefined;
    let index: AuditEventIndex | undefined = cached?.index;
    const checker = new ChainChecker(options.key, {
      ...(options.checkpoint ? { checkpoint: options.checkpoint } : {}),
      ...(options.allowUnkeyed ? { allowUnkeyed: true } : {}),
      ...(options.fromCheckpoint ? { fromCheckpoint: true } : {}),
      ...(cached ? { resumeAfter: cached.resume } : {}),
    });
    let length = cached?.from.offset ?? 0;
    let unfinished: FileLineRef | undefined;
    for await (const line of readLines(handle, cached?.from)) {
      if (!line.terminated) {
        unfinished = line;
        break;
      }
      const checked = checker.check(line);
      if ('broken' in checked) throw new AuditLogError(file, checked.broken);
      index ??= new AuditEventIndex(checked.event.seq); // a pruned trail starts after seq 1
      index.add(checked.event, line.offset, line.length);
      length = line.offset + line.length + 1;
    }
    // Among other things: an unfinished line at or before the checkpointed head was acknowledged, so it is a cut, not a crash.
    const atEnd = checker.finish(unfinished?.number);
    if (atEnd) throw new AuditLogError(file, atEnd.broken);
    let moved: { warning: string; evidenceFile: string } | undefined;
    if (unfinished) moved = await moveUnfinishedLineAside(file, handle, io, unfinished, options.checkpoint);
    if (length === 0) await syncDirectory(dirname(file)); // a new file: make its name durable too
    const log = new AuditLog(file, handle, io, options.key, index ?? new AuditEventIndex(), checker.lastHash, length);
    return { log, ...(moved ?? {}), ...(cache ? { indexCache: 'usable' in cache ? 'used' : cache.unusable } : {}) };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

type FileLineRef = { number: number; offset: number; length: number };

/** The index cache start may go on from (index-cache.ts), when asked for; its leftover temporary copies go. */
async function usableIndexCache(handle: FileHandle, options: OpenAuditLogOptions): Promise<IndexCacheResult | undefined> {
  if (!options.indexCache) return undefined;
  await removeLeftoverTempFiles(options.indexCache);
  if (!options.fromCheckpoint || !options.checkpoint) return { unusable: 'start checks this trail in full (no checkpoint)' };
  return loadIndexCache(options.indexCache, handle, options.key, options.checkpoint);
}

/**
 * A last line without newline, after the checkpointed head. An append is acknowledged only once its
 * whole line, newline included, is written and synced, so a crash (or a full disk) can only leave
 * unfinished a line that was never acknowledged. The reverse is not provable: someone could cut an
 * acknowledged line written after the last checkpoint, and it would look the same. So the bytes are
 * never deleted: they go to an evidence file next to the trail (kept, synced) before the trail is cut
 * back to its last complete line, and the warning names the file. A cut reaching back to the
 * checkpoint is refused instead (ChainChecker.finish), so what can go unnoticed is bounded by how
 * often the checkpoint is written.
 */
async function moveUnfinishedLineAside(
  file: string,
  handle: FileHandle,
  io: AuditFileIo,
  line: FileLineRef,
  checkpoint: Checkpoint | undefined,
): Promise<{ warning: string; evidenceFile: string }> {
  const bytes = Buffer.alloc(line.length);
  await handle.read(bytes, 0, line.length, line.offset);
  const evidenceFile = `${file}.${new Date().toISOString().replace(/[:.]/g, '-')}.unfinished`;
  const evidence = await open(evidenceFile, 'wx', 0o600);
  try {
    await evidence.writeFile(bytes);
    await evidence.sync();
  } finally {
    await evidence.close();
  }
  await syncDirectory(dirname(file));
  await io.truncate(handle, line.offset);
  await io.sync(handle);
  const after = checkpoint ? `after the last checkpointed event (seq ${checkpoint.seq})` : 'with no checkpoint to compare';
  return {
    evidenceFile,
    warning:
      `The audit trail ${file} ended in an unfinished write (line ${line.number}, ${line.length} bytes without a newline), ${after}: ` +
      `a write cut short by a crash or a full disk, never acknowledged. It was moved to ${evidenceFile}, and the trail goes on after its last complete line.`,
  };
}


const NOT_PLAIN = Symbol('not plain JSON');

/**
 * A deep copy of `value` when it is plain JSON data already (strings, finite numbers, booleans, null,
 * arrays, plain objects; undefined fields are left out, as JSON.stringify leaves them), else undefined:
 * the same result as a JSON round trip, at a tenth of its cost, for the events the daemon makes. Anything
 * else (a Date, NaN, a class instance) goes through the round trip.
 */
function plainJsonCopy(value: unknown): unknown {
  const copy = (v: unknown): unknown => {
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') return Number.isFinite(v) ? v : NOT_PLAIN;
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      for (const item of v) {
        const c = item === undefined ? null : copy(item);
        if (c === NOT_PLAIN) return NOT_PLAIN;
        out.push(c);
      }
      return out;
    }
    if (typeof v !== 'object' || Object.getPrototypeOf(v) !== Object.prototype) return NOT_PLAIN;
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(v)) {
      if (item === undefined) continue;
      const c = copy(item);
      if (c === NOT_PLAIN) return NOT_PLAIN;
      out[key] = c;
    }
    return out;
  };
  const result = copy(value);
  return result === NOT_PLAIN ? undefined : result;
}

/**
 * The event to seal, checked (TypeError when it is not valid): a copy of plain JSON data from here on
 * (dates as strings, no undefined), so the hash is over what a reader parses back and no later change
 * to the input reaches the event. Both trails seal what this returns.
 */
export function plainEventContent(input: AuditEventInput): AuditEventInput {
  checkEventInput(input);
  return (plainJsonCopy(input) ?? JSON.parse(JSON.stringify(input))) as AuditEventInput;
}

interface PendingAppend {
  content: AuditEventInput;
  resolve: (event: AuditEvent) => void;
  reject: (error: unknown) => void;
}

export class AuditLog implements AuditTrail {
  readonly #pending: PendingAppend[] = [];
  #writing = false;
  #drained: Promise<void> = Promise.resolve();
  #closed = false;
  /** True after a failed batch until the file is truncated back to `#length`. */
  #needsTruncate = false;

  /** Settles when a pruning rewrite is over; reads wait for it. */
  #rewrite: Promise<void> = Promise.resolve();
  readonly #pruning = new SerialQueue();
  readonly #reads = new Set<Promise<unknown>>();

  #commitListener: ((head: { seq: number; hash: string }) => void) | undefined;

  /** Use `openAuditLog`. */
  constructor(
    readonly file: string,
    private handle: FileHandle,
    private readonly io: AuditFileIo,
    readonly key: ChainKey,
    private index: AuditEventIndex,
    /** The hash of the last acknowledged event. */
    private lastHash: string,
    /** Bytes of acknowledged lines: everything past it is garbage from a failed write. */
    private length: number,
  ) {}

  /** The last acknowledged event: note its hash elsewhere to be able to prove later that nothing was cut from the end. */
  get head(): { seq: number; hash: string } {
    return { seq: this.index.count, hash: this.lastHash };
  }

  /** The index and the bytes of acknowledged lines it covers, for the index cache (index-cache.ts). */
  indexSnapshot(): { snapshot: IndexSnapshot; trailBytes: number } {
    return { snapshot: this.index.snapshot(), trailBytes: this.length };
  }

  /** Called after each batch is on disk, with the new head (the checkpoints of trail.ts). One listener. */
  onCommit(listener: (head: { seq: number; hash: string }) => void): void {
    this.#commitListener = listener;
  }

  /**
   * Records an event; resolves with it as stored once it is on disk. Rejects with `AuditWriteError`
   * when it cannot be made durable, and with a TypeError for an event that is not valid.
   */
  append(input: AuditEventInput): Promise<AuditEvent> {
    if (this.#closed) return Promise.reject(new AuditWriteError(this.file, 'the audit log is closed'));
    let content: AuditEventInput;
    try {
      content = plainEventContent(input);
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rejects with what checkEventInput or JSON.stringify threw, unchanged
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#pending.push({ content, resolve, reject });
      if (!this.#writing) this.#drained = this.#drain();
    });
  }

  /** A page of events matching `query`, newest first. Throws `AuditQueryError` for a bad query. */
  async query(query: AuditQuery = {}): Promise<AuditPage> {
    if (this.#closed) throw new Error('The audit log is closed');
    await this.#rewrite;
    const parsed = parseAuditQuery(query, this.index.count);
    // One more than asked for tells whether there is a next page.
    const seqs = this.index.search(parsed, parsed.top + 1);
    const page = seqs.slice(0, parsed.top);
    const reading = this.#readMany(page);
    this.#reads.add(reading);
    try {
      const events = await reading;
      return { events, ...(seqs.length > parsed.top ? { nextCursor: String(page.at(-1)) } : {}) };
    } finally {
      this.#reads.delete(reading);
    }
  }

  /**
   * Retention: removes the events older than `olderThan` and those beyond the newest `keepLast`.
   * First an `audit.pruned` event is appended (chained, naming the last event removed and its hash);
   * then the file is rewritten from the first kept event (temporary file, fsync, rename), so the trail
   * still verifies: its first line continues from the hash the audit.pruned event names.
   */
  prune(options: { olderThan?: Date; keepLast?: number }): Promise<{ removed: number }> {
    // One pruning at a time: each must see the trail the previous one left.
    return this.#pruning.run(() => this.#prune(options));
  }

  async #prune(options: { olderThan?: Date; keepLast?: number }): Promise<{ removed: number }> {
    if (this.#closed) throw new Error('The audit log is closed');
    const first = this.index.firstSeq;
    let keepFrom = first;
    if (options.keepLast !== undefined) keepFrom = Math.max(keepFrom, this.index.count - options.keepLast + 1);
    if (options.olderThan) keepFrom = Math.max(keepFrom, this.index.firstSeqAtOrAfter(options.olderThan.getTime()));
    keepFrom = Math.min(keepFrom, this.index.count); // the newest event stays (the audit.pruned one will follow it)
    if (keepFrom <= first) return { removed: 0 };

    const lastRemoved = await this.#read(keepFrom - 1);
    await this.append({
      type: 'audit.pruned',
      actor: { kind: 'system', id: 'amsd', displayName: 'amsd', role: 'admin' },
      pruned: {
        throughSeq: keepFrom - 1,
        lastHash: lastRemoved.hash,
        events: keepFrom - first,
        ...(options.olderThan ? { olderThan: options.olderThan.toISOString() } : {}),
        ...(options.keepLast !== undefined ? { keepLast: options.keepLast } : {}),
      },
    });

    let done!: () => void;
    this.#rewrite = new Promise((resolve) => (done = resolve));
    // No append is written while the file is replaced: hold the writer, and let reads in flight finish.
    while (this.#writing) await this.#drained;
    this.#writing = true;
    try {
      await Promise.allSettled([...this.#reads]);
      await this.#replaceFrom(keepFrom);
      return { removed: keepFrom - first };
    } finally {
      this.#writing = false;
      if (this.#pending.length > 0) this.#drained = this.#drain();
      done();
    }
  }

  /** Rewrites the file from event `keepFrom` on, and indexes the new file. */
  async #replaceFrom(keepFrom: number): Promise<void> {
    const start = this.index.location(keepFrom).offset;
    const kept = Buffer.alloc(this.length - start);
    const { bytesRead } = await this.handle.read(kept, 0, kept.length, start);
    if (bytesRead !== kept.length) throw new Error(`The audit trail ${this.file} is shorter than its index says`);
    await atomicWrite(this.file, kept, { temp: pruningTempFile(this.file) });
    const handle = await open(this.file, constants.O_RDWR);
    const index = new AuditEventIndex(keepFrom);
    let offset = 0;
    for (const line of kept.toString('utf8').split('\n').slice(0, -1)) {
      const length = Buffer.byteLength(line);
      index.add(JSON.parse(line) as AuditEvent, offset, length);
      offset += length + 1;
    }
    const old = this.handle;
    this.handle = handle;
    this.index = index;
    this.length = offset;
    await old.close();
  }

  /** Refuses new appends, waits for those already made, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pruning.idle();
    await this.#drained;
    await this.handle.close();
  }

  async #drain(): Promise<void> {
    // Set and cleared synchronously with the emptiness check, so no append can slip between them unwritten.
    this.#writing = true;
    try {
      // Sealed and written after this turn, not inside append(): the appends of one turn share a batch
      // and its fdatasync, and what the caller starts next goes out first.
      await afterWhatGoesOutNext();
      while (this.#pending.length > 0) await this.#commit(this.#pending.splice(0));
    } finally {
      this.#writing = false;
    }
  }

  /** Writes one batch with one fsync; settles every append in it. Never throws. */
  async #commit(batch: PendingAppend[]): Promise<void> {
    const events: AuditEvent[] = [];
    const lines: string[] = [];
    let hash = this.lastHash;
    try {
      for (const { content } of batch) {
        const event = sealEvent(content, this.index.count + events.length + 1, hash, this.key);
        events.push(event);
        lines.push(JSON.stringify(event));
        hash = event.hash;
      }
      if (this.#needsTruncate) await this.#truncateToAcknowledged();
      // One buffer for the batch, encoded once (no buffer per line to copy again).
      lines.push('');
      await this.#writeAll(Buffer.from(lines.join('\n'), 'utf8'), this.length);
      await this.io.sync(this.handle);
    } catch (error) {
      this.#needsTruncate = true;
      await this.#truncateToAcknowledged().catch(() => undefined); // if this fails too, the next batch tries again first
      const failure = new AuditWriteError(this.file, (error as Error).message, { cause: error });
      for (const append of batch) append.reject(failure);
      return;
    }
    events.forEach((event, i) => {
      const lineLength = Buffer.byteLength(lines[i]!, 'utf8');
      this.index.add(event, this.length, lineLength);
      this.length += lineLength + 1;
    });
    this.lastHash = hash;
    batch.forEach((append, i) => append.resolve(events[i]!));
    this.#commitListener?.(this.head);
  }

  async #writeAll(data: Buffer, position: number): Promise<void> {
    for (let written = 0; written < data.length; ) {
      const bytes = await this.io.write(this.handle, data.subarray(written), position + written);
      if (bytes <= 0) throw new Error('the disk accepted no more bytes');
      written += bytes;
    }
  }

  async #truncateToAcknowledged(): Promise<void> {
    await this.io.truncate(this.handle, this.length);
    await this.io.sync(this.handle);
    this.#needsTruncate = false;
  }

  async #read(seq: number): Promise<AuditEvent> {
    const [event] = await this.#readMany([seq]);
    return event!;
  }

  /** The events of `seqs`, in that order, read in as few reads as the index's spans allow. */
  async #readMany(seqs: readonly number[]): Promise<AuditEvent[]> {
    const bySeq = new Map<number, AuditEvent>();
    const handle = this.handle;
    await Promise.all(
      this.index.readSpans(seqs).map(async (span) => {
        const buffer = Buffer.allocUnsafe(span.length); // only the bytes read are looked at
        const { bytesRead } = await handle.read(buffer, 0, span.length, span.offset);
        for (const { seq, start, length } of span.lines) {
          const event = start + length <= bytesRead ? (JSON.parse(buffer.toString('utf8', start, start + length)) as AuditEvent) : undefined;
          // The file is ours alone while the daemon holds the data-dir lock; anything else means it was changed under us.
          if (event?.seq !== seq) throw new Error(`The audit trail ${this.file} changed on disk: line of seq ${seq} is not where it was`);
          bySeq.set(seq, event);
        }
      }),
    );
    return seqs.map((seq) => bySeq.get(seq)!);
  }
}
