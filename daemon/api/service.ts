import type { OperationHandlers } from '../http/operation-types.js';

export function serviceHandlers(version: string): Pick<OperationHandlers, 'getHealth' | 'getCurrentCaller'> {
  return {
    async getHealth() {
      return { status: 'ok', version };
    },
    async getCurrentCaller({ caller }) {
      return caller;
    },
  };
}
