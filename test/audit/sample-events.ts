/**
 * Audit event inputs for the audit tests: a few actors and devices, and builders for the two kinds of
 * events, so each test says only what matters to it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessType, ResultCode } from '../../daemon/access/types.js';
import { GENESIS_HASH, chainKeyFor, sealEvent, unkeyedHashEvent } from '../../daemon/audit/chain.js';
import { trailRecord } from '../../daemon/audit/trail.js';
import { STATE_FILE, emptyState } from '../../daemon/store/state.js';
import type { AuditActor, AuditDevice, AuditEvent, AuditEventInput, ChangeEventInput, ChangeEventType, SecretReadEventInput } from '../../daemon/audit/events.js';

export const TENANT = '11111111-1111-4111-8111-111111111111';

export const alice: AuditActor = {
  kind: 'entra',
  id: 'a1a1a1a1-0000-4000-8000-000000000001',
  principalId: 'a1a1a1a1-0000-4000-8000-000000000001',
  displayName: 'Alice Admin',
  userPrincipalName: 'alice@contoso.example',
  tenantId: TENANT,
  role: 'admin',
};

export const bob: AuditActor = {
  kind: 'entra',
  id: 'b0b0b0b0-0000-4000-8000-000000000002',
  principalId: 'b0b0b0b0-0000-4000-8000-000000000002',
  displayName: 'Bob Helpdesk',
  userPrincipalName: 'bob@contoso.example',
  tenantId: TENANT,
  role: 'user',
};

export const scriptKey: AuditActor = { kind: 'apiKey', id: 'key-0001', displayName: 'nightly script', role: 'user' };

export const pc1: AuditDevice = { deviceName: 'PC-001', deviceId: 'dddd0001-0000-4000-8000-000000000001', objectId: 'oooo0001', tenantId: TENANT };
export const pc2: AuditDevice = { deviceName: 'PC-002', deviceId: 'dddd0002-0000-4000-8000-000000000002', objectId: 'oooo0002', tenantId: TENANT };
export const notFound: AuditDevice = { query: 'PC-404' };

export function secretRead(
  actor: AuditActor,
  device: AuditDevice,
  code: ResultCode = 'Success',
  accessType: AccessType = 'LocalAdminPassword',
): SecretReadEventInput {
  return {
    type: 'secret.read',
    actor,
    ip: '192.0.2.10',
    requestId: 'req-1',
    accessType,
    device,
    outcome: { success: code === 'Success', code, ...(code === 'Success' ? { ruleIds: ['rule-1'] } : {}) },
    reason: 'ticket 4711',
  };
}

export function change(actor: AuditActor, type: ChangeEventType, before?: ChangeEventInput['before'], after?: ChangeEventInput['after']): ChangeEventInput {
  return {
    type,
    actor,
    target: { kind: type.split('.')[0]!, id: 'target-1', displayName: 'Target one' },
    ...(before === undefined ? {} : { before }),
    ...(after === undefined ? {} : { after }),
  };
}

/** The chain key of the tests' trails: a fixed master key and trail id. */
export const testMasterKey = Buffer.alloc(32, 7);
export const testKey = chainKeyFor(testMasterKey, '00000000-0000-4000-8000-000000000001');

/**
 * Makes `dataDir` a data directory whose amsd.json names the tests' trail with `head` as its
 * checkpoint, under the tests' master key: what `amsd audit verify` checks the trail against.
 */
export async function bindTestTrail(dataDir: string, head: { seq: number; hash: string }): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, 'master.key'), testMasterKey.toString('base64') + '\n', { mode: 0o600 });
  await writeFile(join(dataDir, STATE_FILE), JSON.stringify({ ...emptyState(), auditTrail: trailRecord(testMasterKey, head, testKey.trailId) }));
}

/** Writes a chained audit file directly, with chosen times (the log always stamps "now"). */
export async function writeChain(file: string, entries: { content: AuditEventInput; time: Date }[]): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let prevHash = GENESIS_HASH;
  for (const { content, time } of entries) {
    const event = sealEvent(structuredClone(content), events.length + 1, prevHash, testKey, time);
    events.push(event);
    prevHash = event.hash;
  }
  await writeFile(file, events.map((event) => JSON.stringify(event) + '\n').join(''));
  return events;
}

/** The first `cut` events deleted and an audit.pruned event accounting for them appended, as issue 11 found possible: the lines of the forged trail. */
export function forgedPruning(lines: string[], cut: number): string[] {
  const removedLast = JSON.parse(lines[cut - 1]!);
  const last = JSON.parse(lines.at(-1)!);
  const forged: Record<string, unknown> = {
    seq: last.seq + 1, id: '00000000-0000-4000-8000-00000000dead', time: last.time, eventId: 2151, type: 'audit.pruned',
    actor: { kind: 'system', id: 'amsd', displayName: 'amsd', role: 'admin' },
    pruned: { throughSeq: cut, lastHash: removedLast.hash, events: cut, keepLast: lines.length - cut },
    prevHash: last.hash,
  };
  forged.hash = unkeyedHashEvent(forged);
  return [...lines.slice(cut), JSON.stringify(forged)];
}
