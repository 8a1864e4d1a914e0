/**
 * The change journal of the embedded store (`amsd.journal.jsonl` beside `amsd.json`): one line per
 * committed change, `{"v":1,"seq":N,"ops":[...]}`, written at the end of the file and fdatasync'ed
 * before the change is acknowledged, as the audit trail is. The snapshot (amsd.json) records the last
 * seq it holds; entries up to it are skipped on load, and dropped from the file after a fold.
 *
 * A last line without its newline is a write a crash cut short, never acknowledged: it is ignored,
 * and cut off before the next append. Any other line that cannot be read refuses the load.
 */
import { constants } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { atomicWrite, nodeAppendIo, syncDirectory, type AppendFileIo } from '../common/durable-files.js';
import { operationProblem } from './record-checks.js';
import type { Operation } from './store.js';

export const JOURNAL_VERSION = 1;

/** `amsd.json` → `amsd.journal.jsonl`. */
export function journalFileOf(stateFile: string): string {
  return join(dirname(stateFile), `${basename(stateFile, '.json')}.journal.jsonl`);
}

export interface JournalEntry {
  seq: number;
  ops: Operation[];
  /** Where its line starts in the file, and its length with the newline. */
  offset: number;
  length: number;
}

export interface ReadJournal {
  entries: JournalEntry[];
  /** Bytes of complete lines: a torn last line starts here. */
  length: number;
  /** Bytes of a torn last line (0 when there is none). */
  tornBytes: number;
}

/** The journal cannot be used; `problem` says why (the caller names the files in its message). */
export class JournalError extends Error {
  constructor(readonly file: string, readonly problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'JournalError';
  }
}

/** Reads and checks the journal; an empty one when the file does not exist. Never changes the file. */
export async function readJournal(file: string): Promise<ReadJournal> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], length: 0, tornBytes: 0 };
    throw new JournalError(file, (error as Error).message);
  }
  const entries: JournalEntry[] = [];
  let offset = 0;
  let line = 0;
  while (offset < bytes.length) {
    const end = bytes.indexOf(0x0a, offset);
    if (end < 0) return { entries, length: offset, tornBytes: bytes.length - offset };
    line++;
    entries.push(parseEntry(file, line, bytes.subarray(offset, end).toString('utf8'), offset, end + 1 - offset, entries.at(-1)?.seq));
    offset = end + 1;
  }
  return { entries, length: offset, tornBytes: 0 };
}

function parseEntry(file: string, line: number, text: string, offset: number, length: number, previousSeq: number | undefined): JournalEntry {
  let raw: { v?: unknown; seq?: unknown; ops?: unknown };
  try {
    raw = JSON.parse(text) as typeof raw;
  } catch (error) {
    throw new JournalError(file, `line ${line} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof raw?.v === 'number' && raw.v > JOURNAL_VERSION) {
    throw new JournalError(file, `line ${line} was written by a newer amsd (journal version ${raw.v}; this amsd understands up to ${JOURNAL_VERSION})`);
  }
  if (raw?.v !== JOURNAL_VERSION || !Number.isSafeInteger(raw.seq) || (raw.seq as number) < 1 || !Array.isArray(raw.ops)) {
    throw new JournalError(file, `line ${line} is not a journal entry of version ${JOURNAL_VERSION} ({"v":1,"seq":N,"ops":[...]})`);
  }
  const seq = raw.seq as number;
  if (previousSeq !== undefined && seq !== previousSeq + 1) throw new JournalError(file, `line ${line} holds change ${seq} after change ${previousSeq}: changes are missing or out of order`);
  for (const op of raw.ops) {
    const problem = operationProblem(op);
    if (problem) throw new JournalError(file, `line ${line} (change ${seq}): ${problem}`);
  }
  return { seq, ops: raw.ops as Operation[], offset, length };
}

/** The file operations the journal's appends depend on (swappable in tests). */
export type JournalIo = AppendFileIo;

/** Appends entries; owned by the store, used under its one-at-a-time queue. */
export class JournalWriter {
  /** seq → offset of its line, for the entries in the file. */
  #offsets: { seq: number; offset: number }[];
  #needsTruncate = false;

  private constructor(
    readonly file: string,
    private handle: FileHandle,
    private readonly io: JournalIo,
    /** Bytes of acknowledged lines. */
    private length: number,
    entries: readonly JournalEntry[],
  ) {
    this.#offsets = entries.map((e) => ({ seq: e.seq, offset: e.offset }));
  }

  /** Opens the journal read: a torn last line is cut off (it was never acknowledged). Call it under the data directory's lock. */
  static async open(file: string, read: ReadJournal, io: Partial<JournalIo> = {}): Promise<JournalWriter> {
    const fileIo = { ...nodeAppendIo, ...io };
    const handle = await open(file, constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      if (read.tornBytes > 0) {
        await fileIo.truncate(handle, read.length);
        await fileIo.sync(handle);
      }
      if (read.length === 0) await syncDirectory(dirname(file)); // perhaps a new file: make its name durable
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new JournalWriter(file, handle, fileIo, read.length, read.entries);
  }

  /** Entries in the file, and its size. */
  get entries(): number {
    return this.#offsets.length;
  }

  get bytes(): number {
    return this.length;
  }

  /** Writes one entry's line and syncs it. On failure nothing of it stays: the file is cut back (now or before the next append). */
  async append(seq: number, opsJson: string): Promise<void> {
    const line = Buffer.from(`{"v":${JOURNAL_VERSION},"seq":${seq},"ops":${opsJson}}\n`, 'utf8');
    try {
      if (this.#needsTruncate) await this.#truncate();
      for (let written = 0; written < line.length; ) {
        const bytes = await this.io.write(this.handle, line.subarray(written), this.length + written);
        if (bytes <= 0) throw new Error('the disk accepted no more bytes');
        written += bytes;
      }
      await this.io.sync(this.handle);
    } catch (error) {
      this.#needsTruncate = true;
      await this.#truncate().catch(() => undefined);
      throw error;
    }
    this.#offsets.push({ seq, offset: this.length });
    this.length += line.length;
  }

  async #truncate(): Promise<void> {
    await this.io.truncate(this.handle, this.length);
    await this.io.sync(this.handle);
    this.#needsTruncate = false;
  }

  /**
   * Drops the entries up to `seq`, which a snapshot now holds: the file is emptied, or replaced by
   * one holding only the later entries (temporary file, fsync, rename). A crash before this leaves
   * entries the snapshot holds already, which the next load skips.
   */
  async dropThrough(seq: number): Promise<void> {
    const keep = this.#offsets.findIndex((e) => e.seq > seq);
    if (keep === 0) return;
    if (keep < 0) {
      if (this.length === 0) return;
      await this.io.truncate(this.handle, 0);
      await this.io.sync(this.handle);
      this.length = 0;
      this.#offsets = [];
      return;
    }
    const start = this.#offsets[keep]!.offset;
    const tail = Buffer.alloc(this.length - start);
    const { bytesRead } = await this.handle.read(tail, 0, tail.length, start);
    if (bytesRead !== tail.length) throw new Error(`The change journal ${this.file} is shorter than written`);
    await atomicWrite(this.file, tail);
    const handle = await open(this.file, constants.O_RDWR);
    const old = this.handle;
    this.handle = handle;
    this.#offsets = this.#offsets.slice(keep).map((e) => ({ seq: e.seq, offset: e.offset - start }));
    this.length = tail.length;
    await old.close();
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
