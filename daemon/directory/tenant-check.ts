/**
 * Test-AmsTenant: sign in to a tenant with its stored credential and probe each Graph permission the
 * daemon needs, reporting every check by name, so an administrator sees exactly what to fix in the app
 * registration. Nothing secret is read: each probe asks for metadata only.
 */
import type { Dispatcher } from 'undici';
import type { components } from '../../openapi/ams.js';
import { packageVersion } from '../../openapi/package-root.js';
import { connectTo } from './connections.js';
import { GraphError, type GraphClient } from './graph-client.js';
import { INTUNE_MANAGED_DEVICES_PROBE, INTUNE_READ_PERMISSION, INTUNE_ROTATE_PERMISSION, probeRotatePermission } from './intune.js';
import type { TenantService } from './tenant-service.js';

export type TenantCheckReport = components['schemas']['TenantCheckReport'];
type Check = TenantCheckReport['checks'][number];

/** Probes of a feature the tenant may go without (rotation through Intune, issue 16): reported, never failing the report. */
type Probe = { name: Check['name']; path: string; permission: string; what: string; optional?: true; method?: 'POST' };

const PROBES: Probe[] = [
  { name: 'readDevices', path: '/v1.0/devices?$top=1&$select=id', permission: 'Device.Read.All', what: 'find devices by name or id' },
  {
    name: 'readLapsMetadata',
    path: '/v1.0/directory/deviceLocalCredentials?$top=1',
    permission: 'DeviceLocalCredential.Read.All',
    what: 'see LAPS backups (reading the passwords themselves needs DeviceLocalCredential.Read.All, not only ReadBasic)',
  },
  { name: 'readGroups', path: '/v1.0/groups?$top=1&$select=id', permission: 'GroupMember.Read.All', what: 'check group membership for rules' },
  {
    name: 'readBitLockerMetadata',
    path: '/v1.0/informationProtection/bitlocker/recoveryKeys',
    permission: 'BitlockerKey.Read.All',
    what: 'list BitLocker recovery keys',
  },
  {
    name: 'findIntuneDevices',
    path: INTUNE_MANAGED_DEVICES_PROBE,
    permission: INTUNE_READ_PERMISSION,
    what: 'find devices in Intune, to rotate their LAPS passwords (optional)',
    optional: true,
  },
];

export async function checkTenant(tenants: TenantService, tenantId: string, dispatcher: Dispatcher): Promise<TenantCheckReport> {
  const tenant = tenants.getWithCredential(tenantId);
  // A fresh MSAL client on purpose: the administrator may just have fixed the credential, and MSAL
  // would otherwise replay a remembered failure or throttle.
  const { tokens, graph } = connectTo(tenant, dispatcher, packageVersion, { deadlineMs: 10_000 });
  const checks: Check[] = [];
  try {
    await tokens.getToken();
    checks.push({ name: 'signIn', succeeded: true, detail: `Signed in as app ${tenant.clientId} at ${tenant.authorityHost}.` });
  } catch (error) {
    checks.push({ name: 'signIn', succeeded: false, detail: `Sign-in failed: ${(error as Error).message}` });
    for (const probe of [...PROBES, ROTATE_PROBE]) {
      checks.push({ name: probe.name, succeeded: false, detail: 'Not tried: the daemon could not sign in.', permission: probe.permission, ...(probe.optional ? { optional: true } : {}) });
    }
    return { tenantId: tenant.tenantId, succeeded: false, checks };
  }

  for (const probe of PROBES) {
    const optional = probe.optional ? { optional: true } : {};
    try {
      await graph.call(probe.path, { permission: probe.permission });
      checks.push({ name: probe.name, succeeded: true, detail: `The app can ${probe.what}.`, permission: probe.permission, ...optional });
    } catch (error) {
      const graphError = error instanceof GraphError ? error : undefined;
      checks.push({
        name: probe.name,
        succeeded: false,
        detail:
          graphError?.kind === 'forbidden'
            ? `Graph refused: grant the application permission ${probe.permission} (admin consent) so that the daemon can ${probe.what}.`
            : `The probe failed: ${(error as Error).message}`,
        permission: probe.permission,
        ...optional,
        ...(graphError?.details.requestId ? { graphRequestId: graphError.details.requestId } : {}),
      });
    }
  }
  checks.push(await rotationCheck(graph));
  return { tenantId: tenant.tenantId, succeeded: checks.every((c) => c.succeeded || c.optional), checks };
}

const ROTATE_PROBE = { name: 'rotateLapsPasswords', permission: INTUNE_ROTATE_PERMISSION, optional: true } as const;

/** Whether the app may ask Intune to rotate, found without rotating anything (intune.ts). */
async function rotationCheck(graph: GraphClient): Promise<Check> {
  const base = { name: ROTATE_PROBE.name, permission: ROTATE_PROBE.permission, optional: true };
  try {
    const permitted = await probeRotatePermission(graph);
    return permitted
      ? { ...base, succeeded: true, detail: 'The app can ask Intune to rotate LAPS passwords (rotateAfterReadMinutes, resetLocalAdminPassword).' }
      : { ...base, succeeded: false, detail: `Intune refused: grant the application permission ${INTUNE_ROTATE_PERMISSION} (admin consent) if rules are to rotate passwords after reads; reads work without it.` };
  } catch (error) {
    return { ...base, succeeded: false, detail: `The probe failed: ${(error as Error).message}` };
  }
}
