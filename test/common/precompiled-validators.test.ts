/**
 * The validators `npm run build` compiles for the daemon's own files (dist/daemon/common/file-validators.cjs)
 * are there for every schema the state, the queue and the rotation jobs are checked with, and answer as compiling the
 * schema would: the same verdict and the same errors. Needs `npm run build` first.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import t from 'tap';
import { createAjv } from '../../daemon/common/ajv.js';
import { fileValidator, fileValidatorName } from '../../daemon/common/precompiled-validators.js';
import { QUEUE_VALIDATION_OPTIONS, queueFileSchema } from '../../daemon/notifications/queue.js';
import { rotationJobsFileSchema } from '../../daemon/rotation/file-jobs.js';
import { ROTATION_VALIDATION_OPTIONS, rotationJobSchema } from '../../daemon/rotation/job-checks.js';
import { STATE_VALIDATION_OPTIONS, recordSchemas } from '../../daemon/store/record-checks.js';
import { emptyState, stateSchema } from '../../daemon/store/state.js';
import { packageRoot } from '../../openapi/package-root.js';

const built = createRequire(import.meta.url)(join(packageRoot, 'dist', 'daemon', 'common', 'file-validators.cjs')) as Record<string, ValidateFunction>;

const groups: [string, object, object[], unknown[]][] = [
  ['the state', STATE_VALIDATION_OPTIONS, [stateSchema, ...Object.values(recordSchemas)], [emptyState(), { ...emptyState(), schemaVersion: 'x' }, { apiKeys: 1 }]],
  ['the notification queue', QUEUE_VALIDATION_OPTIONS, [queueFileSchema], [{ version: 1, pending: [], failed: [] }, { version: 1, pending: [{ id: '' }], failed: [] }]],
  ['the rotation jobs', ROTATION_VALIDATION_OPTIONS, [rotationJobsFileSchema, rotationJobSchema], [{ version: 1, jobs: [] }, { version: 1, jobs: [{ id: '', status: 'later' }] }, { id: 'j', dueAt: 'soon' }]],
];

for (const [what, options, schemas, samples] of groups) {
  t.test(`${what}: every schema has a built validator that answers as compiling it does`, async (t) => {
    const ajv = createAjv(options);
    for (const schema of schemas) {
      const name = fileValidatorName(schema, options);
      const precompiled = built[name];
      t.ok(precompiled, `${name} is built`);
      if (!precompiled) continue;
      const compiled = ajv.compile(schema);
      for (const input of [...samples, {}, null, 'text', [], { id: 1, unknown: true }]) {
        t.same([precompiled(input), precompiled.errors ?? null], [compiled(input), compiled.errors ?? null], `${name}: ${JSON.stringify(input).slice(0, 60)}`);
      }
    }
  });
}

t.test('a schema the build did not see is compiled when asked for, with the options given', async (t) => {
  const validate = fileValidator<{ a: number }>({ type: 'object', required: ['a'], properties: { a: { type: 'integer' } }, additionalProperties: false }, { allErrors: true, strict: true });
  t.equal(validate({ a: 1 }), true);
  t.equal(validate({ a: 'x', b: 1 }), false);
  t.equal(validate.errors?.length, 2, 'allErrors: both problems reported');
});
