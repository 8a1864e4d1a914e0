import type { RuleService } from '../access/rule-service.js';
import type { OperationHandlers } from '../http/operation-types.js';
import type { RequestContextTools } from './request-origin.js';

type RuleOperations = 'listComputerAuthorizationRules' | 'createComputerAuthorizationRule' | 'updateComputerAuthorizationRule' | 'deleteComputerAuthorizationRule';

export function ruleHandlers(rules: RuleService, tools: RequestContextTools): Pick<OperationHandlers, RuleOperations> {
  return {
    async listComputerAuthorizationRules({ query }) {
      return { items: rules.list(query) };
    },
    async createComputerAuthorizationRule(context) {
      const rule = await rules.create(context.body, tools.author(context));
      context.reply.header('Location', `/v1/computer-authorization-rules?id=${rule.id}`);
      return rule;
    },
    async updateComputerAuthorizationRule(context) {
      return rules.update(context.params.id, context.body, tools.author(context));
    },
    async deleteComputerAuthorizationRule(context) {
      await rules.remove(context.params.id, tools.author(context));
      return undefined;
    },
  };
}
