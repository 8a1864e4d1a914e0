/**
 * Daemons on one PostgreSQL database with a tenant, a rule that lets a helpdesk user read PC-0001's
 * LAPS password and that user's API key: what the shared rate-limit and fail-closed tests start from.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Test } from 'tap';
import type { DaemonTestingOptions } from '../../../daemon/daemon.js';
import { createKey, createRule, registerTenant, simulatedTenantFor, startTestDaemon, tempDir, type TestDaemon } from '../../helpers.js';

export const LAPS = '/v1/secrets/local-admin-password';

export interface SharedDaemons {
  url: string;
  daemons: TestDaemon[];
  /** The helpdesk user's key (users[0], in AMS-LAPS-Readers through AMS-Helpdesk). */
  helpdesk: string;
  /** PC-0001: its LAPS password. */
  computerName: string;
  password: string;
  /** Every daemon has caught up with the others' changes. */
  inStep(): Promise<void>;
}

/** Polls `condition` until it holds, within `boundMs` (the bound is the requirement, not a measurement). */
export async function until(condition: () => boolean | Promise<boolean>, what: string, boundMs = 10_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function sharedDaemons(t: Test, databaseUrl: string, count: number, testing: DaemonTestingOptions = {}): Promise<SharedDaemons> {
  const { tenant, caFile } = await simulatedTenantFor(t, { devices: 5 });
  const keyFile = join(await tempDir(t), 'master.key');
  await writeFile(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  const options = { databaseUrl, masterKeyFile: keyFile, caFile, logLevel: 'warn' as const, testing: { databasePollMs: 200, ...testing } };
  const first = await startTestDaemon(t, undefined, options);
  const daemons = [first];
  for (let i = 1; i < count; i++) daemons.push(await startTestDaemon(t, undefined, { ...options, adminKey: first.adminKey }));
  await registerTenant(t, first, tenant);
  await createRule(t, first, { description: 'Readers: workstation passwords', tenantId: tenant.tenantId, groupId: 'All-Workstations', principalsAllowedLaps: ['AMS-LAPS-Readers'] });
  const helpdesk = await createKey(t, first, { name: 'helpdesk', role: 'user', tenantId: tenant.tenantId, principalId: tenant.directory.users[0]!.id });
  const inStep = () => until(() => daemons.every((d) => d.store.revision === first.store.revision), 'every daemon has the same revision');
  await inStep();
  const device = tenant.directory.devices[0]!;
  return { url: databaseUrl, daemons, helpdesk, computerName: device.displayName, password: device.laps!.expected[0]!.password, inStep };
}
