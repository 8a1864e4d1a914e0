/**
 * Binds the contract to Fastify: one route per operation, with the operation's schemas for request
 * validation and response serialization, authentication from its security requirement, and its
 * handler found by operationId. Start-up fails when an operation has no handler or a handler no
 * operation, so the daemon can never serve a route the spec does not describe, or miss one it does.
 */
import { redactUrl } from '../logging.js';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticationHook, type Authenticators } from './authentication.js';
import type { OperationContext, OperationErrorHooks, OperationHandlers, OperationId } from '../api/operation-types.js';
import { ProblemError, errorHandler, problemStatusOf, sendProblem } from './problem.js';
import type { Operation } from '../../openapi/contract.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    operationId?: string;
  }
}

export function bindOperations(
  app: FastifyInstance,
  operations: Operation[],
  handlers: OperationHandlers,
  authenticators: Authenticators,
  errorHooks: OperationErrorHooks = {},
) {
  const specified = new Set(operations.map((op) => op.operationId));
  const unspecified = Object.keys(handlers).filter((id) => !specified.has(id));
  if (unspecified.length > 0) throw new Error(`Handlers without an operation in the spec: ${unspecified.join(', ')}`);

  for (const operation of operations) {
    const handler = (handlers as unknown as Record<string, (context: OperationContext<OperationId>) => Promise<unknown>>)[
      operation.operationId
    ];
    if (typeof handler !== 'function') throw new Error(`The spec's operation ${operation.operationId} has no handler`);
    const successStatus = Number(Object.keys(operation.schema.response).sort()[0] ?? 204);
    const errorHook = errorHooks[operation.operationId as OperationId];

    app.route({
      method: operation.method.toUpperCase(),
      url: operation.routePath,
      schema: {
        ...(operation.schema.params ? { params: operation.schema.params } : {}),
        ...(operation.schema.querystring ? { querystring: operation.schema.querystring } : {}),
        ...(operation.schema.body ? { body: operation.schema.body } : {}),
        response: operation.schema.response,
      },
      config: { operationId: operation.operationId },
      // Every error of the route, from its body parser and validation on, passes the hook first.
      ...(errorHook
        ? {
            async errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
              try {
                await errorHook(error, request, problemStatusOf(error));
              } catch (hookError) {
                return errorHandler(hookError as FastifyError, request, reply);
              }
              return errorHandler(error, request, reply);
            },
          }
        : {}),
      ...(operation.authenticated ? { onRequest: authenticationHook(operation, authenticators) } : {}),
      async handler(request: FastifyRequest, reply: FastifyReply) {
        const context = {
          body: request.body,
          params: request.params,
          query: request.query,
          get caller() {
            if (!request.caller) throw new ProblemError(401, 'unauthenticated', 'This operation needs an authenticated caller.');
            return request.caller;
          },
          request,
          reply,
        } as OperationContext<OperationId>;
        const body = await handler(context);
        if (!reply.sent) {
          if (reply.statusCode === 200) reply.code(successStatus);
          return body ?? null;
        }
        return reply;
      },
    });
  }
}

/**
 * Unknown routes answer 404; a known path with a method it does not have answers 405 with `Allow`,
 * so a caller can tell a typo in the path from a wrong verb.
 */
export function notFoundHandler(operations: Operation[]) {
  const matchers = operations.map((op) => ({
    pattern: new RegExp('^' + op.routePath.replace(/:[^/]+/g, '[^/]+') + '/?$'),
    method: op.method.toUpperCase(),
  }));
  return function notFound(request: FastifyRequest, reply: FastifyReply) {
    const path = redactUrl(request.url.split('?')[0] ?? '');
    const allowed = [...new Set(matchers.filter((m) => m.pattern.test(path)).map((m) => m.method))];
    if (allowed.length > 0) {
      if (allowed.includes('GET')) allowed.push('HEAD');
      reply.header('Allow', allowed.join(', '));
      return sendProblem(request, reply, 405, 'method-not-allowed', `${path} does not support ${request.method}; it supports ${allowed.join(', ')}.`);
    }
    return sendProblem(request, reply, 404, 'not-found', `There is no ${path} in this API. The operations are listed at /openapi.json and browsable at /docs.`);
  };
}
