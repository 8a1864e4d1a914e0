import { parseRuleCsv, ruleCsv } from '../access/rule-csv.js';
import type { RuleService, RuleView } from '../access/rule-service.js';
import { ValidationError } from '../common/errors.js';
import type { OperationHandlers } from './operation-types.js';
import type { RequestContextTools } from './request-origin.js';

type RuleOperations = 'importComputerAuthorizationRules' | 'exportComputerAuthorizationRules' | 'listComputerAuthorizationRules' | 'createComputerAuthorizationRule' | 'updateComputerAuthorizationRule' | 'deleteComputerAuthorizationRule';

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
    async exportComputerAuthorizationRules({ query }) {
      const items = rules.list(query.tenantId ? { tenantId: query.tenantId } : {});
      return { csv: ruleCsv(items, query.delimiter), count: items.length };
    },
    async importComputerAuthorizationRules(context) {
      const { rows, errors } = await parseRuleCsv(context.body.csv, context.body.delimiter);
      const dryRun = context.body.dryRun ?? false;
      // Well-formed rows are resolved even when other rows are not, so that one answer lists every mistake.
      let result: { items: RuleView[]; skipped: { line: number; description: string; existingRuleId: string }[] } = { items: [], skipped: [] };
      try {
        result = await rules.createMany(rows, tools.author(context), { dryRun: dryRun || errors.length > 0, allowDuplicates: context.body.allowDuplicates ?? false });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        errors.push(...error.errors);
      }
      if (errors.length > 0) throw new ValidationError(errors.sort((a, b) => lineOf(a.path) - lineOf(b.path)));
      return { dryRun, items: result.items, skipped: result.skipped };
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

/** The CSV line an error path names (`body/csv/<line>/...`), for listing errors in file order. */
function lineOf(path: string): number {
  return Number(/^body\/csv\/(\d+)/.exec(path)?.[1] ?? 0);
}
