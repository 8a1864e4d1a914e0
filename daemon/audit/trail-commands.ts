/**
 * `amsd audit reset` and `amsd audit rekey`: the only ways a data directory gets another trail than
 * the one it has. Both take the data directory's lock (the daemon must be stopped), and both are
 * recorded as the first keyed event of the trail they leave behind.
 *
 * - reset: archives the trail (renamed, never deleted, next to the new one) and starts a new trail
 *   whose first event, `audit.reset`, names the archive and what checking it found.
 * - rekey: the migration of a data directory last served by an amsd from before keyed trails (no
 *   auditTrail record in amsd.json, an intact unkeyed chain). It appends `audit.rekeyed`, keyed, which
 *   continues the old chain from its head and records that head; from it on every event is keyed.
 *   Start refuses such a directory until this is run, rather than keying it by itself: an unkeyed chain
 *   is also what someone without the master key would leave after recomputing the trail and removing
 *   the record, and only the operator can tell the two apart (by comparing the head hash with one noted).
 */
import { randomUUID } from 'node:crypto';
import { open, rename, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { syncDirectory } from '../common/durable-files.js';
import { openJsonFileStore } from '../store/json-file-store.js';
import { lockDataDir } from '../store/lock.js';
import { loadMasterKey } from '../store/sealing.js';
import { STATE_FILE } from '../store/state.js';
import type { Store } from '../store/store.js';
import { auditLogPath, openAuditLog, type AuditLog } from './audit-log.js';
import { GENESIS_HASH, chainKeyFor, readLines, verifyAuditLog, type AuditVerifyResult, type ChainKey } from './chain.js';
import type { AuditActor, AuditTrailEventInput } from './events.js';
import { bindTrail, trailRecord } from './trail.js';

export interface TrailCommandOptions {
  dataDir: string;
  masterKeyFile?: string;
  /** Who runs the command (the OS user), for the event's actor. */
  operator: string;
  reason?: string;
  out: NodeJS.WritableStream;
}

class CommandError extends Error {}

/** Runs `work` with the data directory locked, its master key and its store; prints errors, returns the exit code. */
async function withDataDir(
  options: TrailCommandOptions,
  work: (context: { masterKey: Buffer; store: Store; file: string; stateFile: string }) => Promise<void>,
): Promise<number> {
  const { dataDir, out } = options;
  const stateFile = join(dataDir, STATE_FILE);
  try {
    await stat(stateFile).catch(() => {
      throw new CommandError(`There is no data file ${stateFile}: a new data directory gets a new trail when amsd serve first starts on it.`);
    });
    const lock = await lockDataDir(dataDir);
    try {
      const masterKey = await loadMasterKey(dataDir, options.masterKeyFile, { create: false });
      const { store } = await openJsonFileStore(stateFile);
      try {
        await work({ masterKey: masterKey.key, store, file: auditLogPath(dataDir), stateFile });
      } finally {
        await store.close();
      }
    } finally {
      await lock.release();
    }
    return 0;
  } catch (error) {
    out.write(`amsd: ${(error as Error).message}\n`);
    return 1;
  }
}

function operatorActor(command: string, operator: string): AuditActor {
  return { kind: 'system', id: 'amsd', displayName: `amsd audit ${command} (run by ${operator})`, role: 'admin' };
}

/** Appends the trail's first keyed event, then names the trail in the state with it as the checkpoint. */
async function startKeyedTrail(store: Store, masterKey: Buffer, log: AuditLog, event: AuditTrailEventInput): Promise<void> {
  await log.append(event);
  // The event is on disk before the state names the trail: a crash in between leaves a trail start refuses, and running the command again mends it.
  await store.mutate((draft) => draft.set('auditTrail', trailRecord(masterKey, log.head, event.trail.id)));
}

function describe(result: AuditVerifyResult | undefined): string {
  if (!result) return 'missing';
  if (!result.ok) return `broken at line ${result.firstBroken.line}: ${result.firstBroken.detail}`;
  return result.keyedFrom === undefined && result.events > 0 ? 'intact (unkeyed chain)' : 'intact';
}

const missingAsUndefined = (error: unknown) => {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  throw error;
};

export async function runAuditReset(options: TrailCommandOptions): Promise<number> {
  return withDataDir(options, async ({ masterKey, store, file, stateFile }) => {
    const record = store.state.auditTrail;
    // What the old trail was, for the record: checked as `amsd audit verify` would.
    let previous: AuditVerifyResult | undefined;
    let check: string;
    const bound = await bindTrail(file, stateFile, record, masterKey);
    if ('problem' in bound) {
      previous = await verifyAuditLog(file, chainKeyFor(masterKey, record?.id ?? 'unbound'), { allowUnkeyed: true }).catch(missingAsUndefined);
      check = `refused: ${bound.problem}`;
    } else {
      previous = await verifyAuditLog(file, bound.key, { checkpoint: bound.checkpoint }).catch(missingAsUndefined);
      check = describe(previous);
    }
    let archivedAs: string | undefined;
    if (previous) {
      archivedAs = `${basename(file, '.jsonl')}.${new Date().toISOString().replace(/[:.]/g, '-')}.archived.jsonl`;
      await rename(file, join(dirname(file), archivedAs));
      await syncDirectory(dirname(file));
    }
    const id = randomUUID();
    const { log } = await openAuditLog(file, { key: chainKeyFor(masterKey, id) });
    try {
      await startKeyedTrail(store, masterKey, log, {
        type: 'audit.reset',
        actor: operatorActor('reset', options.operator),
        ...(options.reason ? { reason: options.reason } : {}),
        trail: {
          id,
          previous: {
            ...(record?.id ? { id: record.id } : {}),
            ...(archivedAs ? { archivedAs } : {}),
            ...(previous?.ok ? { firstSeq: previous.firstSeq ?? 1, lastSeq: previous.events, lastHash: previous.lastHash } : {}),
            check,
          },
        },
      });
    } finally {
      await log.close();
    }
    options.out.write(
      (archivedAs ? `archived the audit trail (${check}) as ${join(dirname(file), archivedAs)}\n` : `there was no audit trail at ${file}\n`) +
        `started a new trail ${id} at ${file}; its first event (seq 1) is audit.reset\n`,
    );
  });
}

export async function runAuditRekey(options: TrailCommandOptions): Promise<number> {
  return withDataDir(options, async ({ masterKey, store, file, stateFile }) => {
    const record = store.state.auditTrail;
    if (record) {
      const bound = await bindTrail(file, stateFile, record, masterKey);
      if ('problem' in bound) throw new CommandError(`Nothing to rekey: ${stateFile} names trail ${record.id} already, but ${bound.problem}. ${bound.advice}`);
      options.out.write(`the audit trail ${file} is keyed already (trail ${record.id}); nothing to do. amsd audit verify checks it.\n`);
      return;
    }
    const interrupted = await interruptedRekey(file, masterKey);
    if (interrupted) {
      await store.mutate((draft) => draft.set('auditTrail', trailRecord(masterKey, interrupted.head, interrupted.key.trailId)));
      options.out.write(`finished an interrupted rekey: ${stateFile} now names trail ${interrupted.key.trailId}\n`);
      return;
    }
    const legacy = await verifyAuditLog(file, chainKeyFor(masterKey, 'unbound'), { allowUnkeyed: true }).catch(missingAsUndefined);
    if (legacy && (!legacy.ok || legacy.keyedFrom !== undefined)) {
      const why = legacy.ok ? 'it has keyed events, but no record in amsd.json names its trail' : `it is broken at line ${legacy.firstBroken.line}: ${legacy.firstBroken.detail}`;
      throw new CommandError(
        `The audit trail ${file} cannot be rekeyed: ${why}. Keep it as evidence; \`amsd audit reset --data-dir ${options.dataDir} --confirm\` archives it and starts a new trail.`,
      );
    }
    const id = randomUUID();
    const key = chainKeyFor(masterKey, id);
    const { log, warning } = await openAuditLog(file, { key, allowUnkeyed: true });
    if (warning) options.out.write(`${warning}\n`);
    try {
      const head = log.head;
      await startKeyedTrail(store, masterKey, log, {
        type: 'audit.rekeyed',
        actor: operatorActor('rekey', options.operator),
        ...(options.reason ? { reason: options.reason } : {}),
        trail: {
          id,
          previous: { firstSeq: legacy?.ok ? (legacy.firstSeq ?? 1) : 1, lastSeq: head.seq, lastHash: head.hash, check: describe(legacy) },
        },
      });
      options.out.write(
        `keyed the audit trail ${file} (trail ${id}): events up to seq ${head.seq} were unkeyed, their last hash is ${head.hash === GENESIS_HASH ? 'none (the trail was empty)' : head.hash};\n` +
          `compare it with a hash noted before to trust them. From seq ${head.seq + 1} (audit.rekeyed) on, every event is keyed.\n`,
      );
    } finally {
      await log.close();
    }
  });
}

/** A rekey that appended its event but stopped before writing amsd.json: the last line is a keyed audit.rekeyed naming its trail. */
async function interruptedRekey(file: string, masterKey: Buffer): Promise<{ key: ChainKey; head: { seq: number; hash: string } } | undefined> {
  const handle = await open(file, 'r').catch(missingAsUndefined);
  if (!handle) return undefined;
  let last: string | undefined;
  try {
    for await (const line of readLines(handle)) if (line.terminated) last = line.text;
  } finally {
    await handle.close();
  }
  let event: { type?: string; trail?: { id?: unknown } } | undefined;
  try {
    event = last ? (JSON.parse(last) as typeof event) : undefined;
  } catch {
    return undefined;
  }
  if (event?.type !== 'audit.rekeyed' || typeof event.trail?.id !== 'string') return undefined;
  const key = chainKeyFor(masterKey, event.trail.id);
  const result = await verifyAuditLog(file, key);
  return result.ok ? { key, head: { seq: result.events, hash: result.lastHash } } : undefined;
}
