import type { AuditLog } from '../audit/audit-log.js';
import { AuditQueryError } from '../audit/event-index.js';
import type { OperationHandlers } from './operation-types.js';
import { validationProblem } from '../http/problem.js';

export function auditHandlers(audit: AuditLog): Pick<OperationHandlers, 'listAuditEvents'> {
  return {
    async listAuditEvents({ query }) {
      try {
        const page = await audit.query(query);
        return { items: page.events as never, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
      } catch (error) {
        if (error instanceof AuditQueryError) throw validationProblem([{ path: 'query', message: error.message }]);
        throw error;
      }
    },
  };
}
