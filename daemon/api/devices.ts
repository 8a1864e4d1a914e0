import type { DeviceDirectory } from '../directory/devices.js';
import type { OperationHandlers } from '../http/operation-types.js';
import { validationProblem } from '../http/problem.js';

export function deviceHandlers(devices: DeviceDirectory): Pick<OperationHandlers, 'getDevice'> {
  return {
    async getDevice({ query }) {
      if (Boolean(query.name) === Boolean(query.deviceId)) {
        throw validationProblem([{ path: 'query/name', message: 'give either name or deviceId (one of them, not both)' }]);
      }
      return devices.resolve(query);
    },
  };
}
