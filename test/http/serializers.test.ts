/**
 * The response serializers `npm run build` compiled (dist/daemon/http/response-serializers.cjs) are
 * there for every response schema the routes have, and write what compiling the schema at start
 * writes: the same JSON for every response example of the contract, the same error for data a
 * schema refuses. Needs `npm run build` first.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Fastify from 'fastify';
import fastJsonStringify from 'fast-json-stringify';
import t from 'tap';
import type { OperationHandlers } from '../../daemon/api/operation-types.js';
import { bindOperations } from '../../daemon/http/binder.js';
import { SERIALIZER_OPTIONS, serializerName } from '../../daemon/http/serializers.js';
import { listOperations, loadSpec, resolveRef } from '../../openapi/contract.js';
import { packageRoot } from '../../openapi/package-root.js';

type Serialize = (data: unknown) => string;
const built = createRequire(import.meta.url)(join(packageRoot, 'dist', 'daemon', 'http', 'response-serializers.cjs')) as Record<string, () => Serialize>;
const spec = loadSpec();
const operations = listOperations(spec);

/** Every example of every response in the contract. */
function responseExamples(): unknown[] {
  const examples: unknown[] = [];
  for (const op of operations) {
    for (const response of Object.values(op.definition.responses)) {
      const content = resolveRef<{ content?: Record<string, { example?: unknown; examples?: Record<string, { value: unknown }> }> }>(spec, response as never).content ?? {};
      for (const media of Object.values(content)) {
        if (media.example !== undefined) examples.push(media.example);
        for (const example of Object.values(media.examples ?? {})) examples.push(example.value);
      }
    }
  }
  return examples;
}

const outcome = (serialize: Serialize, data: unknown) => {
  try {
    return { json: serialize(structuredClone(data)) };
  } catch (error) {
    return { error: (error as Error).message };
  }
};

t.test('every response schema of the routes has a built serializer that writes what compiling it writes', async (t) => {
  const app = Fastify();
  const routed: { schema: unknown; route: string }[] = [];
  app.setSerializerCompiler(({ schema, method, url, httpStatus }) => {
    routed.push({ schema, route: `${method} ${url} ${httpStatus}` });
    return () => '';
  });
  const handlers = Object.fromEntries(operations.map((op) => [op.operationId, async () => null]));
  bindOperations(app, operations, handlers as unknown as OperationHandlers, {} as never);
  await app.ready();
  t.ok(routed.length >= operations.length, `${routed.length} response schemas`);
  const examples = [...responseExamples(), {}, null, 'text', 12];
  t.ok(examples.length > 20, `${examples.length} examples`);
  const checked = new Set<string>();
  for (const { schema, route } of routed) {
    const name = serializerName(schema);
    t.ok(built[name], `${route} has a built serializer`);
    if (!built[name] || checked.has(name)) continue;
    checked.add(name);
    const precompiled = built[name]();
    const compiled = fastJsonStringify(schema as never, { ...SERIALIZER_OPTIONS });
    for (const example of examples) t.same(outcome(precompiled, example), outcome(compiled, example), `${route}: ${JSON.stringify(example)?.slice(0, 50)}`);
  }
});
