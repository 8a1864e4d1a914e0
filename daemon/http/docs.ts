/**
 * The published contract (/openapi.json, /openapi.yaml) and Swagger UI (/docs), without their cost at
 * start: @fastify/swagger and @fastify/swagger-ui (with yaml, @fastify/static and its glob) were about
 * 40 ms of a fresh start's CPU, for pages few requests ask for. Routes cannot be added to an app once
 * it is ready, so /docs and everything under it is one route here, answered by an app of its own that
 * holds the two plugins, built at the first request for it and closed with the daemon's app. What it
 * answers is passed on as it is (status, headers, body), and the daemon's own hooks apply to it as to
 * any answer; what it does not have is the daemon's 404, and its failures are the daemon's 500s.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OpenApiDocument } from '../../openapi/contract.js';

/** Headers about the connection or the framing, which the daemon's own answer sets. */
const NOT_PASSED_ON = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'date']);

export interface DocsOptions {
  spec: OpenApiDocument;
  /** What Swagger UI shows: the contract, told what it does not show by itself (app.ts). */
  transformSpecification: (document: OpenApiDocument) => OpenApiDocument;
  /** Swagger UI's `uiConfig`. */
  uiConfig: Record<string, unknown>;
}

/** The documentation app: @fastify/swagger on the contract as written, Swagger UI at /docs. */
async function buildDocsApp(options: DocsOptions): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: fastifySwagger }, { default: fastifySwaggerUi }] = await Promise.all([
    import('fastify'),
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  const docs = Fastify({ logger: false }) as unknown as FastifyInstance;
  await docs.register(fastifySwagger, { mode: 'static', specification: { document: options.spec as never } });
  await docs.register(fastifySwaggerUi, {
    routePrefix: '/docs',
    theme: { title: 'amsd' },
    uiConfig: options.uiConfig,
    // Only the UI's copy (/docs/json): /openapi.json stays the contract as written.
    transformSpecification: (document) => options.transformSpecification(document as unknown as OpenApiDocument) as never,
  });
  await docs.ready();
  return docs;
}

export function registerDocs(app: FastifyInstance, options: DocsOptions): void {
  // What @fastify/swagger's static mode published: the document itself, and its YAML made once.
  app.get('/openapi.json', { schema: { hide: true } }, async () => options.spec);
  let yamlText: string | undefined;
  app.get('/openapi.yaml', { schema: { hide: true } }, async (_request, reply) => {
    yamlText ??= (await import('yaml')).stringify(options.spec, { strict: false });
    return reply.type('application/yaml; charset=utf-8').send(yamlText);
  });

  let docs: Promise<FastifyInstance> | undefined;
  app.addHook('onClose', async () => {
    await (await docs?.catch(() => undefined))?.close();
  });
  const serveDocs = async (request: FastifyRequest, reply: FastifyReply) => {
    docs ??= buildDocsApp(options);
    const inner = await docs.catch((error: unknown) => {
      docs = undefined; // the next request tries again
      throw error;
    });
    // A HEAD is answered as the GET is: the daemon's own HEAD handling drops the body.
    const answer = await inner.inject({ method: request.method === 'HEAD' ? 'GET' : (request.method as 'GET'), url: request.url, headers: request.headers });
    if (answer.statusCode === 404) return reply.callNotFound();
    // Its failures are the daemon's: logged, and answered as every server error is (problem.ts).
    if (answer.statusCode >= 500) throw new Error(`Swagger UI answered ${answer.statusCode} for ${request.url}: ${answer.body.slice(0, 200)}`);
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !NOT_PASSED_ON.has(name)) reply.header(name, value);
    }
    reply.code(answer.statusCode);
    // An empty answer (a redirect) stays one: a Buffer, even empty, would be typed application/octet-stream.
    return answer.rawPayload.length > 0 ? reply.send(answer.rawPayload) : reply.send();
  };
  app.get('/docs', { schema: { hide: true } }, serveDocs);
  app.get('/docs/*', { schema: { hide: true } }, serveDocs);
}
