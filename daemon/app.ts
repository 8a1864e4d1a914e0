/**
 * Builds the Fastify app from the contract, without listening: tests `inject` into it, and
 * `cli.ts` is the only place that listens.
 */
import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { createErrorHooks, createHandlers, type HandlerDependencies } from './api/index.js';
import type { EntraTokenVerifier } from './auth/entra-tokens.js';
import { bindOperations, notFoundHandler } from './http/binder.js';
import { DEFAULT_SERVER_LIMITS, clientErrorHandler, frameworkErrors, nodeServerOptions, requireHost, trackAnswers, type ServerLimits } from './http/connection-errors.js';
import { errorHandler } from './http/problem.js';
import { listOperations, type OpenApiDocument } from './http/spec.js';
import { contractValidatorCompiler } from './http/validation.js';

declare module 'fastify' {
  interface FastifyInstance {
    readonly registeredRoutes: readonly string[];
  }
}

export const BODY_LIMIT_BYTES = 1024 * 1024;
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export interface AppOptions extends HandlerDependencies {
  spec: OpenApiDocument;
  logger: Logger;
  /** Accepts Entra ID access tokens besides API keys. */
  entraTokens?: EntraTokenVerifier;
  https?: { cert: Buffer; key: Buffer };
  /** Timeouts and the connection cap of the HTTP server (tests: short ones); defaults otherwise. */
  serverLimits?: Partial<ServerLimits>;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.serverLimits };
  const app = Fastify({
    // The HTTPS server has the same API; its distinct type would only spread through every signature.
    ...(options.https ? { https: { ...options.https, ...nodeServerOptions(limits) } } : ({ http: nodeServerOptions(limits) } as { https?: never })),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    clientErrorHandler: clientErrorHandler(limits),
    frameworkErrors,
    loggerInstance: options.logger,
    bodyLimit: BODY_LIMIT_BYTES,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    // A caller's own request id is kept (to correlate with its logs) only if it cannot forge log content.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    },
  }) as unknown as FastifyInstance;

  // Every route as `METHOD /url`, so that what the daemon serves can be compared with the spec.
  const registeredRoutes: string[] = [];
  app.decorate('registeredRoutes', registeredRoutes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) registeredRoutes.push(`${method} ${route.url}`);
  });

  // JSON is the only body type the API takes: anything else is 415, not a confusing validation error.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);
  // Bodies as sent, query values only as plain numbers in bounds, text well-formed (see validation.ts).
  app.setValidatorCompiler(contractValidatorCompiler());

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // A POST with no body to an operation that takes none is fine whatever type it claims (PowerShell's
    // Invoke-WebRequest calls a bodiless POST a form): without the claim, Fastify parses nothing.
    if (request.routeOptions.schema?.body === undefined && request.headers['content-type'] !== undefined && isBodiless(request.headers)) {
      delete request.headers['content-type'];
    }
  });
  app.addHook('onRequest', requireHost);
  // The server exists before it listens; Node closes connections past the cap as soon as they arrive.
  app.server.maxConnections = limits.maxConnections;
  trackAnswers(app.server);
  app.addHook('onSend', async (request, reply, payload) => {
    // API answers describe security state; no cache between the daemon and the caller may keep them.
    if (request.url.startsWith('/v1/')) reply.header('Cache-Control', 'no-store');
    return payload;
  });

  const operations = listOperations(options.spec);
  app.setNotFoundHandler(notFoundHandler(operations));

  await app.register(fastifySwagger, { mode: 'static', specification: { document: options.spec as never } });
  await app.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true, displayRequestDuration: true, tryItOutEnabled: false },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/openapi.yaml', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('application/yaml; charset=utf-8').send(app.swagger({ yaml: true })),
  );

  bindOperations(app, operations, createHandlers(options), {
    apiKeys: options.apiKeys,
    ...(options.entraTokens ? { entraTokens: options.entraTokens } : {}),
  }, createErrorHooks(options));
  return app;
}

function isBodiless(headers: FastifyRequest['headers']): boolean {
  return headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0');
}
