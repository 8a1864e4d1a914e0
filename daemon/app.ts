/**
 * Builds the Fastify app from the contract, without listening: tests `inject` into it, and
 * `cli.ts` is the only place that listens.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { createErrorHooks, createHandlers, type HandlerDependencies } from './api/index.js';
import type { EntraTokenVerifier } from './auth/entra-tokens.js';
import { AccessLogController } from './http/access-log.js';
import { bindOperations, notFoundHandler } from './http/binder.js';
import { DEFAULT_SERVER_LIMITS, clientErrorHandler, frameworkErrors, nodeServerOptions, requireHost, trackAnswers, type ServerLimits } from './http/connection-errors.js';
import { registerDocs } from './http/docs.js';
import { errorHandler } from './http/problem.js';
import { listOperations, type OpenApiDocument, type Operation } from '../openapi/contract.js';
import { contractSchemaController } from './http/serializers.js';

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
  /** Tests: filled with every route as `METHOD /url`, so that what the daemon serves can be compared with the spec. */
  registeredRoutes?: string[];
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.serverLimits };
  const app = Fastify({
    // The HTTPS server has the same API; its distinct type would only spread through every signature.
    ...(options.https ? { https: { ...options.https, ...nodeServerOptions(limits) } } : ({ http: nodeServerOptions(limits) })),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    clientErrorHandler: clientErrorHandler(limits),
    frameworkErrors,
    loggerInstance: options.logger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Bodies as sent, query values only as plain numbers in bounds, text well-formed (validation.ts);
    // responses by the serializers the build compiled (serializers.ts).
    schemaController: contractSchemaController(),
    logController: new AccessLogController(),
    // A caller's own request id is kept (to correlate with its logs) only if it cannot forge log content.
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
    },
  }) as unknown as FastifyInstance;

  const { registeredRoutes } = options;
  if (registeredRoutes) {
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) registeredRoutes.push(`${method} ${route.url}`);
    });
  }

  // JSON is the only body type the API takes: anything else is 415, not a confusing validation error.
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler(errorHandler);

  // Callback hooks, not async ones: they run on every request, and a promise per hook is measurable there.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // API answers describe security state; no cache between the daemon and the caller may keep them.
    // Set before anything can answer, so refusals and errors say it too.
    if (request.url.startsWith('/v1/')) reply.header('Cache-Control', 'no-store');
    // A POST with no body to an operation that takes none is fine whatever type it claims (PowerShell's
    // Invoke-WebRequest calls a bodiless POST a form): without the claim, Fastify parses nothing.
    // (routeOptions is built anew on each access: asked last.)
    if (request.headers['content-type'] !== undefined && isBodiless(request.headers) && request.routeOptions.schema?.body === undefined) {
      delete request.headers['content-type'];
    }
    done();
  });
  app.addHook('onRequest', requireHost);
  // The server exists before it listens; Node closes connections past the cap as soon as they arrive.
  app.server.maxConnections = limits.maxConnections;
  trackAnswers(app.server);

  const operations = listOperations(options.spec);
  app.setNotFoundHandler(notFoundHandler(operations));

  // The contract and Swagger UI; the UI's plugins are loaded at the first request for /docs (docs.ts).
  registerDocs(app, {
    spec: options.spec,
    uiConfig: {
      // No top bar, so neither the fastify logo nor the "Explore" box that loads other documents.
      deepLinking: true,
      displayRequestDuration: true,
      tryItOutEnabled: false,
      layout: 'BaseLayout',
      plugins: [linkToPublishedContract],
    },
    transformSpecification: (document) => withCmdletsAndRoles(document, operations),
  });

  bindOperations(app, operations, createHandlers(options), {
    apiKeys: options.apiKeys,
    ...(options.entraTokens ? { entraTokens: options.entraTokens } : {}),
  }, createErrorHooks(options));
  return app;
}

/**
 * Tells Swagger UI's reader, on each operation, the cmdlet it is in the PowerShell module and whether
 * only administrators may call it (from `x-ams-cmdlet` and `x-ams-role`, which Swagger UI does not show).
 */
export function withCmdletsAndRoles(document: OpenApiDocument, operations: readonly Operation[]): OpenApiDocument {
  for (const op of operations) {
    const shown = document.paths[op.path]?.[op.method];
    if (!shown) continue;
    const who = op.adminOnly ? 'admin only' : op.authenticated ? 'admin or user' : 'no key needed';
    shown.summary = `${op.cmdlet} (${who}): ${shown.summary ?? ''}`;
    const role = op.adminOnly
      ? 'Only administrators may call it: an `admin` API key, or an Entra user the tenant makes an administrator.'
      : op.authenticated
        ? 'Any API key or Entra user may call it.'
        : 'It answers without a key.';
    shown.description = `**PowerShell:** \`${op.cmdlet}\`. ${role}\n\n${shown.description ?? ''}`;
  }
  return document;
}

/**
 * A Swagger UI plugin that makes the link under the title the published contract, /openapi.json, rather
 * than the UI's own copy. Serialized into the page by its source text: it must use nothing outside itself.
 */
function linkToPublishedContract() {
  type Component = (props: Record<string, unknown>) => unknown;
  return {
    wrapComponents: {
      InfoUrl: (Original: Component, system: { React: { createElement(type: Component, props: Record<string, unknown>): unknown } }) => (props: Record<string, unknown>) =>
        system.React.createElement(Original, { ...props, url: '/openapi.json' }),
    },
  };
}

function isBodiless(headers: FastifyRequest['headers']): boolean {
  return headers['transfer-encoding'] === undefined && (headers['content-length'] === undefined || headers['content-length'] === '0');
}
