/**
 * The audit index cache (`<dataDir>/audit/audit.index`): the query index of the trail as it was when
 * amsd last stopped cleanly, so that start reads, parses and indexes only the events written since,
 * instead of every line (at 100,000 events, parsing and indexing was most of a start).
 *
 * It is a cache, never a source of truth, and is used only when it vouches for exactly the bytes the
 * trail holds now:
 * - it names the trail (its id) and is keyed (HMAC-SHA256 under the trail's chain key, so only amsd,
 *   holding the master key, can write one that is used);
 * - it records the SHA-256 of the trail's first `trailBytes` bytes, which start hashes again (reading
 *   a file is far cheaper than parsing it): a trail edited, cut, pruned or replaced since does not match.
 * Then start goes on from the event before the checkpoint (or from the cache's last event), exactly
 * as its check would after reading those same bytes (ChainCheckOptions.resumeAfter): what start would
 * have found in them, it found when they were checked or written before. Anything else (no cache, an
 * unreadable, older, foreign or stale one) and start reads the whole trail, as it always did, and the
 * next clean stop writes a new cache. `amsd audit verify` never uses it.
 *
 * Layout: "AMSDAIX1", a u32 (LE) header length, the header (JSON), the index columns (native byte
 * order, which the header names), then the 32-byte MAC of everything before it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { constants, readSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { atomicWrite } from '../common/durable-files.js';
import type { ChainKey, ChainResume, Checkpoint } from './chain.js';
import { AuditEventIndex, type IndexColumns, type IndexSnapshot } from './event-index.js';

const MAGIC = Buffer.from('AMSDAIX1', 'latin1');
const MAC_LABEL = 'amsd audit index v1\n';
const MAC_BYTES = 32;
const CHUNK_BYTES = 1 << 20;
const COLUMNS: { name: keyof IndexColumns; type: Float64ArrayConstructor | Uint32ArrayConstructor | Uint16ArrayConstructor }[] = [
  { name: 'time', type: Float64Array },
  { name: 'offset', type: Float64Array },
  { name: 'length', type: Uint32Array },
  { name: 'actor', type: Uint32Array },
  { name: 'device', type: Uint32Array },
  { name: 'type', type: Uint16Array },
  { name: 'accessType', type: Uint16Array },
  { name: 'code', type: Uint16Array },
];

interface Header {
  trailId: string;
  endianness: string;
  firstSeq: number;
  events: number;
  trailBytes: number;
  trailSha256: string;
  dictionaries: IndexSnapshot['dictionaries'];
}

/** Where the index cache of the trail at `trailFile` lives: beside it. */
export function indexCachePath(trailFile: string): string {
  return join(dirname(trailFile), 'audit.index');
}

/**
 * SHA-256 of the first `bytes` bytes of the file behind `handle`; undefined when it is shorter. Read
 * synchronously: at start nothing else waits for the event loop, and on a busy machine a trip through
 * libuv's pool for each chunk cost more waiting for a core than the reading itself.
 */
function prefixDigest(handle: FileHandle, bytes: number): string | undefined {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(bytes, 1)));
  for (let position = 0; position < bytes; ) {
    const bytesRead = readSync(handle.fd, chunk, 0, Math.min(chunk.length, bytes - position), position);
    if (bytesRead === 0) return undefined;
    hash.update(chunk.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

const macOf = (key: ChainKey, content: Buffer) => createHmac('sha256', key.key).update(MAC_LABEL).update(content).digest();

/**
 * Writes the cache of an index whose events are the first `trailBytes` bytes of `trailFile`, atomically.
 * Call it when nothing appends to the trail any more (after the log closed).
 */
export async function saveIndexCache(cacheFile: string, trailFile: string, key: ChainKey, snapshot: IndexSnapshot, trailBytes: number): Promise<void> {
  const handle = await open(trailFile, constants.O_RDONLY);
  let trailSha256: string | undefined;
  try {
    trailSha256 = prefixDigest(handle, trailBytes);
  } finally {
    await handle.close();
  }
  if (trailSha256 === undefined) throw new Error(`The audit trail ${trailFile} is shorter than its index says`);
  const header: Header = { trailId: key.trailId, endianness: endianness(), firstSeq: snapshot.firstSeq, events: snapshot.events, trailBytes, trailSha256, dictionaries: snapshot.dictionaries };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(headerBytes.length);
  const columns = COLUMNS.map(({ name }) => {
    const column = snapshot.columns[name];
    return Buffer.from(column.buffer, column.byteOffset, column.byteLength);
  });
  const content = Buffer.concat([MAGIC, length, headerBytes, ...columns]);
  await atomicWrite(cacheFile, Buffer.concat([content, macOf(key, content)]));
}

/** What start takes from a cache that matches the trail: the index so far, and where to read on. */
export interface UsableIndexCache {
  index: AuditEventIndex;
  resume: ChainResume;
  /** Where the line after `resume.seq` begins, and its number less one. */
  from: { offset: number; number: number };
}

export type IndexCacheResult = { usable: UsableIndexCache } | { unusable: string };

/** The header and columns of a cache file whose MAC holds, or why it cannot be used. */
function parseCache(bytes: Buffer, key: ChainKey): { header: Header; snapshot: IndexSnapshot } | string {
  if (bytes.length < MAGIC.length + 4 + MAC_BYTES || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return 'it is not an audit index cache of this amsd';
  const content = bytes.subarray(0, bytes.length - MAC_BYTES);
  if (!timingSafeEqual(macOf(key, content), bytes.subarray(content.length))) return 'its MAC does not hold (another trail\'s, or altered)';
  const headerLength = content.readUInt32LE(MAGIC.length);
  let at = MAGIC.length + 4;
  const header = JSON.parse(content.toString('utf8', at, at + headerLength)) as Header;
  at += headerLength;
  if (header.trailId !== key.trailId) return 'it is another trail\'s';
  if (header.endianness !== endianness()) return 'it was written on a machine of another byte order';
  const columns = {} as Record<keyof IndexColumns, Float64Array | Uint32Array | Uint16Array>;
  for (const { name, type } of COLUMNS) {
    const byteLength = header.events * type.BYTES_PER_ELEMENT;
    if (at + byteLength > content.length) return 'it is shorter than its header says';
    // A copy: typed arrays need aligned offsets, and the file's buffer is not kept.
    const copy = new ArrayBuffer(byteLength);
    content.copy(new Uint8Array(copy), 0, at, at + byteLength);
    columns[name] = new type(copy);
    at += byteLength;
  }
  if (at !== content.length) return 'it is longer than its header says';
  return { header, snapshot: { firstSeq: header.firstSeq, events: header.events, dictionaries: header.dictionaries, columns: columns as unknown as IndexColumns } };
}

async function readEvent(handle: FileHandle, index: AuditEventIndex, seq: number): Promise<Record<string, unknown>> {
  const { offset, length } = index.location(seq);
  const bytes = Buffer.alloc(length);
  await handle.read(bytes, 0, length, offset);
  const event = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  if (event.seq !== seq) throw new Error(`line of seq ${seq} is not where the cache says`);
  return event;
}

/**
 * The cache at `cacheFile` for the trail open as `trail`, if it vouches for the trail's bytes as they
 * are; start then checks from the event before `checkpoint` on (or from the cache's last event, if
 * that came before it). Never throws for a bad cache: says why it is not used.
 */
export async function loadIndexCache(cacheFile: string, trail: FileHandle, key: ChainKey, checkpoint: Checkpoint): Promise<IndexCacheResult> {
  let bytes: Buffer;
  try {
    bytes = await readFile(cacheFile);
  } catch (error) {
    return { unusable: (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'there is none' : `it cannot be read (${(error as Error).message})` };
  }
  try {
    const parsed = parseCache(bytes, key);
    if (typeof parsed === 'string') return { unusable: parsed };
    const { header, snapshot } = parsed;
    if (prefixDigest(trail, header.trailBytes) !== header.trailSha256) return { unusable: 'the trail changed since it was written (pruned, cut, edited or replaced)' };
    const index = AuditEventIndex.restore(snapshot);
    const seq = Math.min(index.count, checkpoint.seq - 1);
    if (seq < index.firstSeq) return { unusable: 'it ends before the trail\'s checkpoint has anything to go on from' };
    index.truncate(seq);
    const last = await readEvent(trail, index, seq);
    const first = await readEvent(trail, index, index.firstSeq);
    let pruningAccountedFor = false;
    if (index.firstSeq > 1) {
      // As the chain check does on each line: an audit.pruned event naming exactly this cut.
      const pruned = index.search({ from: -Infinity, to: Infinity, top: Infinity, belowSeq: seq + 1, type: 'audit.pruned' }, Infinity);
      for (const prunedSeq of pruned) {
        const cut = (await readEvent(trail, index, prunedSeq)).pruned as { throughSeq?: unknown; lastHash?: unknown } | undefined;
        if (cut?.throughSeq === index.firstSeq - 1 && cut.lastHash === first.prevHash) pruningAccountedFor = true;
      }
    }
    const { offset, length } = index.location(seq);
    return {
      usable: {
        index,
        resume: { seq, hash: String(last.hash), firstSeq: index.firstSeq, firstPrevHash: String(first.prevHash), pruningAccountedFor },
        from: { offset: offset + length + 1, number: seq - index.firstSeq + 1 },
      },
    };
  } catch (error) {
    return { unusable: `it cannot be used (${(error as Error).message})` };
  }
}
