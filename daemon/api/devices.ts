import type { DeviceDirectory } from '../directory/devices.js';
import type { OperationHandlers } from './operation-types.js';
import { validationProblem } from '../http/problem.js';

export function deviceHandlers(devices: DeviceDirectory): Pick<OperationHandlers, 'listDevices'> {
  return {
    async listDevices({ query }) {
      const { name, deviceId, tenantId, top = 100, cursor } = query;
      if (name && deviceId) throw validationProblem([{ path: 'query/name', message: 'give name or deviceId, not both' }]);
      if (name || deviceId) {
        if (cursor) throw validationProblem([{ path: 'query/cursor', message: 'is for listing; a lookup by name or deviceId has one page' }]);
        return { items: [await devices.resolve({ ...(name ? { name } : {}), ...(deviceId ? { deviceId } : {}), ...(tenantId ? { tenantId } : {}) })] };
      }
      return devices.list({ top, ...(tenantId ? { tenantId } : {}), ...(cursor ? { cursor } : {}) });
    },
  };
}
