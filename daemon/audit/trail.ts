/**
 * Which audit trail a data directory has, and proof that it is still all there.
 *
 * The state (amsd.json) holds an `auditTrail` record: the trail's id, which salts the chain key (see
 * chain.ts), and a checkpoint of its head (seq, hash, time), all under an HMAC of the chain key. The
 * checkpoint is written every `everyEvents` events or `everyMs` while events come (a change of the
 * state, so not on every event), at once after the first event, and at shutdown. At start (which
 * re-hashes only the events from the checkpoint on), and in `amsd audit verify` (every event), the
 * trail is refused when it is:
 * - missing, or emptied (the checkpoint says events were written);
 * - cut at its start (no keyed audit.pruned event accounts for the cut: chain.ts);
 * - recomputed without the master key (unkeyed or wrongly keyed hashes);
 * - cut at its end back past the checkpoint, or another trail than the one checkpointed;
 * - or when the record itself was altered, or is absent (as in a data directory from before keyed
 *   trails, which `amsd audit rekey` keys once: trail-commands.ts).
 * Events acknowledged after the last checkpoint can be cut unnoticed: that window is the price of not
 * changing the state on every event. A deliberate fresh trail is `amsd audit reset` (trail-commands.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditTrailRecord } from '../store/records.js';
import { syncDirectory } from '../common/durable-files.js';
import type { Store } from '../store/store.js';
import { adviceFor, dataDirOfTrail, openAuditLog, type AuditFileIo, type AuditLog, type OpenedAuditLog } from './audit-log.js';
import type { AuditTrail } from './audit-trail.js';
import { GENESIS_HASH, chainKeyFor, macRecord, verifyAuditLog, type ChainKey, type Checkpoint } from './chain.js';
import { indexCachePath, saveIndexCache } from './index-cache.js';

const RECORD_MAC_LABEL = 'amsd.json auditTrail';

/** The trail cannot be used as amsd.json describes it: start stops with this message; nothing is changed. */
export class AuditTrailError extends Error {
  constructor(readonly file: string, readonly problem: string, advice: string) {
    super(`The audit trail ${file} cannot be used: ${problem}. amsd has not changed it and will not add to it. ${advice}`);
    this.name = 'AuditTrailError';
  }
}

function recordMac(record: Omit<AuditTrailRecord, 'mac'>, key: ChainKey): string {
  const { id, createdAt, checkpoint } = record;
  return macRecord(RECORD_MAC_LABEL, { id, createdAt, checkpoint }, key);
}

/** The chain key of the trail `record` names, when it has the record's shape and its MAC holds under `masterKey`. */
export function trailRecordKey(record: AuditTrailRecord, masterKey: Buffer): ChainKey | undefined {
  const key = chainKeyFor(masterKey, String(record.id));
  return isTrailRecord(record) && recordMac(record, key) === record.mac ? key : undefined;
}

/** A record for trail `id` (a new one by default) whose head is `head`, with its MAC. */
export function trailRecord(masterKey: Buffer, head: { seq: number; hash: string }, id: string = randomUUID(), createdAt = new Date().toISOString()): AuditTrailRecord {
  const record = { id, createdAt, checkpoint: { seq: head.seq, hash: head.hash, time: new Date().toISOString() } };
  return { ...record, mac: recordMac(record, chainKeyFor(masterKey, id)) };
}

/** The record of a new, empty trail, for the state of a new data directory. */
export function newTrailRecord(masterKey: Buffer): AuditTrailRecord {
  return trailRecord(masterKey, { seq: 0, hash: GENESIS_HASH });
}

export interface TrailProblem {
  problem: string;
  advice: string;
}

export interface BoundTrail {
  key: ChainKey;
  checkpoint: Checkpoint;
}

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * For a new data directory: the (empty) trail file exists, durably, before amsd.json names it, so
 * that a missing trail is always a removed one, even after a crash during the first start.
 */
export async function createEmptyTrail(file: string): Promise<void> {
  const firstCreatedDir = await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  if (firstCreatedDir) await syncDirectory(dirname(firstCreatedDir));
  const handle = await open(file, 'a', 0o600);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDirectory(dirname(file));
}

/** A data directory whose amsd.json is missing while its trail holds events: not a new data directory. */
export async function orphanTrailProblem(file: string, stateFile: string): Promise<TrailProblem | undefined> {
  if (!(await sizeOf(file))) return undefined;
  return {
    problem: `it holds events, but the data file ${stateFile} it belongs to is missing (deleted or moved)`,
    advice: `Restore ${stateFile} from a backup. To start this data directory afresh, move the directory ${dirname(file)} away too (keep it as evidence).`,
  };
}

/**
 * What the state's record says about the trail at `file`, before the chain is read: its key and
 * checkpoint, or why it cannot be used. The chain itself is checked against them by `openAuditLog`
 * (at start) or `verifyAuditLog` (`amsd audit verify`), which find the same breaks.
 */
export async function bindTrail(file: string, stateFile: string, record: AuditTrailRecord | undefined, masterKey: Buffer): Promise<BoundTrail | TrailProblem> {
  const dataDir = dataDirOfTrail(file);
  const size = await sizeOf(file);
  if (!record) return unboundProblem(file, stateFile, size, masterKey);
  const key = chainKeyFor(masterKey, String(record.id));
  if (!isTrailRecord(record) || recordMac(record, key) !== record.mac) {
    return {
      problem:
        `the auditTrail record in ${stateFile} (trail ${record.id}) does not carry a valid MAC: it was changed by someone without the master key, ` +
        'or this is not the master key the data directory was written with',
      advice: `Check $AMS_MASTER_KEY_FILE (or ${dataDir}/master.key), or restore the data file from a backup; \`amsd audit verify --data-dir ${dataDir}\` checks without starting.`,
    };
  }
  const checkpointed = `${stateFile} checkpointed seq ${record.checkpoint.seq} of trail ${record.id} at ${record.checkpoint.time}`;
  const reset = `Restore it from a backup if you have one; \`amsd audit reset --data-dir ${dataDir} --confirm\` starts a new trail.`;
  if (size === undefined) return { problem: `it is missing (deleted or moved), yet ${checkpointed}`, advice: reset };
  if (size === 0 && record.checkpoint.seq > 0) return { problem: `it was emptied, yet ${checkpointed}`, advice: reset };
  return { key, checkpoint: record.checkpoint };
}

/** The shape amsd.json's schema gives the record (checked here too: `amsd audit verify` reads the file without the store). */
function isTrailRecord(record: unknown): record is AuditTrailRecord {
  const r = record as Partial<AuditTrailRecord> | null;
  return (
    typeof r?.id === 'string' && typeof r.createdAt === 'string' && typeof r.mac === 'string' &&
    Number.isSafeInteger(r.checkpoint?.seq) && typeof r.checkpoint?.hash === 'string' && typeof r.checkpoint.time === 'string'
  );
}

async function unboundProblem(file: string, stateFile: string, size: number | undefined, masterKey: Buffer): Promise<TrailProblem> {
  const dataDir = dataDirOfTrail(file);
  if (!size) {
    return {
      problem: `${stateFile} names no audit trail and the trail is ${size === undefined ? 'missing' : 'empty'}: the data directory was last served by an amsd from before keyed trails that recorded nothing, or the trail was removed together with the record`,
      advice: `If you know nothing was lost, \`amsd audit reset --data-dir ${dataDir} --confirm\` starts a new trail (and records that it did).`,
    };
  }
  // Any key: an unkeyed chain is checked with plain SHA-256, and a keyed one cannot be checked without its trail id.
  const unkeyed = await verifyAuditLog(file, chainKeyFor(masterKey, 'unbound'), { allowUnkeyed: true });
  if (unkeyed.ok && unkeyed.keyedFrom === undefined) {
    return {
      problem:
        `${stateFile} names no audit trail and the trail's chain is not keyed (${unkeyed.events} events, plain SHA-256): it was written by an amsd from before keyed trails, ` +
        'or recomputed by someone without the master key who also removed the record',
      advice: adviceFor(file, { reason: 'unkeyed' }),
    };
  }
  return {
    problem: `${stateFile} names no audit trail, but the trail is not an intact unkeyed one either: the record was removed from ${stateFile}, or ${stateFile} was replaced`,
    advice: `Restore ${stateFile} from a backup; \`amsd audit verify --data-dir ${dataDir}\` says more.`,
  };
}

export interface OpenBoundAuditLogOptions {
  file: string;
  stateFile: string;
  store: Store;
  masterKey: Buffer;
  io?: Partial<AuditFileIo>;
}

/**
 * Opens the trail the state names, refusing it (AuditTrailError, AuditLogError) for any of the reasons
 * above. At start the chain is checked from the keyed checkpoint on: the events before it were checked
 * when it was written, so re-hashing the whole trail would only slow every start; edits before the
 * checkpoint are for `amsd audit verify`, which checks every event. When the index cache of the last
 * clean stop still matches the trail byte for byte, the lines it covers are not read again either.
 */
export async function openBoundAuditLog(options: OpenBoundAuditLogOptions): Promise<OpenedAuditLog> {
  const { file, stateFile, store, masterKey } = options;
  const bound = await bindTrail(file, stateFile, store.state.auditTrail, masterKey);
  if ('problem' in bound) throw new AuditTrailError(file, bound.problem, bound.advice);
  return openAuditLog(file, { key: bound.key, checkpoint: bound.checkpoint, fromCheckpoint: true, indexCache: indexCachePath(file), ...(options.io ? { io: options.io } : {}) });
}

/**
 * Closes the log the daemon opened, then writes its index cache for the next start (index-cache.ts).
 * The log is closed whatever happens to the cache; a cache that could not be written is reported by
 * `onCacheError`, and the next start reads the whole trail.
 */
export async function closeAuditLog(log: AuditLog, onCacheError: (error: unknown) => void): Promise<void> {
  await log.close();
  const { snapshot, trailBytes } = log.indexSnapshot();
  if (snapshot.events === 0) return;
  await saveIndexCache(indexCachePath(log.file), log.file, log.key, snapshot, trailBytes).catch(onCacheError);
}

export interface CheckpointOptions {
  /** Write a checkpoint once this many events came since the last one. */
  everyEvents?: number;
  /** And at this interval while events come. */
  everyMs?: number;
  onError?: (error: unknown) => void;
}

export const DEFAULT_CHECKPOINT_EVENTS = 1000;
export const DEFAULT_CHECKPOINT_MS = 5000;

/**
 * Writes the trail's head into the state's record: one change of the state at most every
 * `everyEvents` events or `everyMs`, only when the head moved, at once after the first event of a
 * trail (so an emptied young trail is caught too), and on `close`. The head written is always one
 * already durable, so the trail can only be ahead of its checkpoint, never behind; and a checkpoint
 * never goes back (on PostgreSQL, another daemon may have written a newer one).
 */
export class AuditCheckpoints {
  readonly #everyEvents: number;
  readonly #timer: NodeJS.Timeout;
  #written: number;
  #writing: Promise<void> | undefined;
  #again = false;

  constructor(
    private readonly store: Store,
    private readonly log: AuditTrail,
    private readonly masterKey: Buffer,
    private readonly options: CheckpointOptions = {},
  ) {
    this.#everyEvents = options.everyEvents ?? DEFAULT_CHECKPOINT_EVENTS;
    this.#written = store.state.auditTrail?.checkpoint.seq ?? 0;
    log.onCommit((head) => {
      if (this.#written === 0 || head.seq - this.#written >= this.#everyEvents) this.#schedule();
    });
    this.#timer = setInterval(() => {
      if (this.log.head.seq !== this.#written) this.#schedule();
    }, options.everyMs ?? DEFAULT_CHECKPOINT_MS);
    this.#timer.unref();
  }

  /** Writes the checkpoint now if the head moved; resolves once it is on disk. */
  async write(): Promise<void> {
    if (this.#writing) {
      this.#again = true;
      return this.#writing;
    }
    if (this.log.head.seq === this.#written) return;
    this.#writing = this.#write().finally(() => {
      this.#writing = undefined;
      if (this.#again) {
        this.#again = false;
        this.#schedule();
      }
    });
    return this.#writing;
  }

  async #write(): Promise<void> {
    let seq = 0;
    await this.store.mutate((draft) => {
      const current = draft.document('auditTrail');
      if (!current) return;
      // Read at the moment the state is written: every event up to it is on disk already.
      const head = this.log.head;
      seq = head.seq;
      // Several daemons on one database each checkpoint the shared trail: never back to an older head.
      if (current.checkpoint.seq >= head.seq) return;
      draft.set('auditTrail', trailRecord(this.masterKey, head, current.id, current.createdAt));
    });
    this.#written = Math.max(this.#written, seq);
  }

  #schedule(): void {
    this.write().catch((error: unknown) => this.options.onError?.(error));
  }

  /** Stops the timer and writes a last checkpoint. Call it after the last append, before the store closes. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#writing?.catch(() => undefined);
    await this.write();
  }
}
