/**
 * Intune's half of a rotation: find the Intune managed device of an Entra device, and ask Intune to
 * rotate its Windows LAPS password. THE ONE place the Graph beta endpoint is called: the action
 * exists only in beta, and Microsoft's terms say of beta "production use is not supported"
 * (https://learn.microsoft.com/graph/api/intune-devices-manageddevice-rotatelocaladminpassword?view=graph-rest-beta).
 * Should it move to v1.0 or change shape, this file is all that changes.
 *
 * What Intune does (as documented, and where the documentation is wrong):
 * - The managed device is found by the Entra deviceId: `GET /beta/deviceManagement/managedDevices?$filter=azureADDeviceId eq '…'`
 *   (DeviceManagementManagedDevices.Read.All or ReadWrite.All;
 *   https://learn.microsoft.com/graph/api/intune-devices-manageddevice-list?view=graph-rest-beta). A device
 *   Intune does not manage is an empty collection (200), not a 404.
 * - `POST /beta/deviceManagement/managedDevices/{id}/rotateLocalAdminPassword`, no body, answers 204. The
 *   documentation's permission table lists only Read scopes, but Intune answers 403 "Application is not
 *   authorized to perform this operation. Application must have one of the following scopes:
 *   DeviceManagementManagedDevices.PrivilegedOperations.All"
 *   (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/87, open). Intune checks that
 *   scope before it looks the device up, which is what probeRotatePermission relies on.
 * - 204 means Intune accepted the action, not that the password changed: the device rotates and backs
 *   the new password up to Entra when it is online and checks in.
 * - One device per call; Intune throttles per app and tenant (429, not always with a Retry-After;
 *   https://learn.microsoft.com/graph/throttling-limits, "Intune service limits").
 */
import { GraphError, type GraphClient } from './graph-client.js';
import { graphSegment, InvalidGraphSegment } from './graph-path.js';
import { deadlineOption, type Deadline } from './deadline.js';
import { odataString } from './devices.js';

export const INTUNE_ROTATE_PERMISSION = 'DeviceManagementManagedDevices.PrivilegedOperations.All';
export const INTUNE_READ_PERMISSION = 'DeviceManagementManagedDevices.Read.All';
/** Test-AmsTenant's probe of the read permission: one managed device's id, no more. */
export const INTUNE_MANAGED_DEVICES_PROBE = '/beta/deviceManagement/managedDevices?$top=1&$select=id';

export interface ManagedDevice {
  id: string;
  deviceName: string;
  azureADDeviceId: string;
}

const MANAGED_DEVICES = '/beta/deviceManagement/managedDevices';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A managed device id no device can have: the probe's target. */
const NO_SUCH_MANAGED_DEVICE = '00000000-0000-0000-0000-000000000000';

/**
 * The Intune managed device of an Entra deviceId; undefined when Intune manages none. `entraDeviceId`
 * must be a GUID (an Entra deviceId is one): anything else is refused with InvalidGraphSegment, without a
 * call. Throws GraphError (forbidden naming INTUNE_READ_PERMISSION, throttled, failed, timeout).
 */
export async function findManagedDevice(graph: GraphClient, entraDeviceId: string, options: { deadline?: Deadline } = {}): Promise<ManagedDevice | undefined> {
  if (!GUID.test(entraDeviceId)) throw new InvalidGraphSegment(entraDeviceId, `'${entraDeviceId}' is not an Entra deviceId (a GUID)`);
  const filter = `azureADDeviceId eq ${odataString(entraDeviceId.toLowerCase())}`;
  const page = await graph.call<{ value?: ManagedDevice[] }>(`${MANAGED_DEVICES}?$filter=${encodeURIComponent(filter)}&$select=id,deviceName,azureADDeviceId`, {
    permission: INTUNE_READ_PERMISSION,
    ...deadlineOption(options.deadline),
  });
  // One Entra device has at most one Intune record that names it; should Intune list more (a stale
  // enrollment next to a new one), the first is as good a target as any: each is the same device.
  const found = page?.value?.[0];
  return found ? { id: found.id, deviceName: found.deviceName, azureADDeviceId: found.azureADDeviceId } : undefined;
}

/**
 * Asks Intune to rotate; resolves on 204. Throws GraphError (kind forbidden naming INTUNE_ROTATE_PERMISSION,
 * notFound, throttled with retryAfterSeconds, failed, timeout).
 *
 * One attempt: a 429 or 5xx is handed back at once with its Retry-After, for the job to retry on its
 * own schedule. And the action is not idempotent: a connection that breaks after the request was sent
 * may have delivered it, so it is not retried here (`idempotent: false`); the job decides.
 */
export async function rotateLocalAdminPassword(graph: GraphClient, managedDeviceId: string, options: { deadline?: Deadline } = {}): Promise<void> {
  await graph.call<undefined>(`${MANAGED_DEVICES}/${graphSegment(managedDeviceId)}/rotateLocalAdminPassword`, {
    method: 'POST',
    idempotent: false,
    maxAttempts: 1,
    permission: INTUNE_ROTATE_PERMISSION,
    ...deadlineOption(options.deadline),
  });
}

/**
 * Whether the app may rotate, without rotating anything: the action on a managed device id that cannot
 * exist (all zeros) is refused 403 without the permission, 404 with it. Other failures (throttled,
 * unreachable) are thrown: they say nothing about the permission.
 */
export async function probeRotatePermission(graph: GraphClient, options: { deadline?: Deadline } = {}): Promise<boolean> {
  try {
    await graph.call<undefined>(`${MANAGED_DEVICES}/${NO_SUCH_MANAGED_DEVICE}/rotateLocalAdminPassword`, {
      method: 'POST',
      // No device has this id, so nothing can rotate twice: a broken connection may be retried.
      idempotent: true,
      permission: INTUNE_ROTATE_PERMISSION,
      ...deadlineOption(options.deadline),
    });
    return true; // accepted for no device: permitted all the same
  } catch (error) {
    if (error instanceof GraphError && error.kind === 'notFound') return true;
    if (error instanceof GraphError && error.kind === 'forbidden') return false;
    throw error;
  }
}
