/**
 * Cmdlet and parameter names: the spec names cmdlets, the generator refuses unapproved verbs,
 * duplicates and names PowerShell reserves, with messages that say where and what to do.
 */
import t from 'tap';
import { GenerationError } from '../../psmodule/generator/model.js';
import { renderModule } from '../../psmodule/generator/index.js';
import { checkCmdletName, pascalCase, reservedParameterReason } from '../../psmodule/generator/names.js';
import { jsonBody, jsonResponse, syntheticSpec } from './powershell.js';

const thing = { type: 'object', properties: { id: { type: 'string' } } };

function failure(fn: () => unknown): GenerationError {
  try {
    fn();
  } catch (error) {
    if (error instanceof GenerationError) return error;
    throw error;
  }
  throw new Error('expected a GenerationError');
}

t.test('cmdlet names: approved 5.1 verbs and the Ams noun prefix', async (t) => {
  t.same(checkCmdletName('Get-AmsDevice'), { verb: 'Get', noun: 'AmsDevice' });
  t.same(checkCmdletName('Remove-AmsComputerAuthorizationRule'), { verb: 'Remove', noun: 'AmsComputerAuthorizationRule' });
  t.match(checkCmdletName('Fetch-AmsDevice'), /"Fetch" is not an approved verb of Windows PowerShell 5\.1/);
  // Build and Deploy came after 5.1: a 5.1 import would warn.
  t.match(checkCmdletName('Build-AmsThing'), /not an approved verb/);
  t.match(checkCmdletName('Deploy-AmsThing'), /not an approved verb/);
  t.match(checkCmdletName('get-AmsDevice'), /must be spelt "Get"/);
  t.match(checkCmdletName('Get-Device'), /noun must start with the module prefix "Ams"/);
  t.match(checkCmdletName('Get-Amsdevice'), /followed by a capital letter/);
  t.match(checkCmdletName('GetAmsDevice'), /not a cmdlet name of the form Verb-AmsNoun/);
  t.match(checkCmdletName('Get-Ams Device'), /not a cmdlet name/);
});

t.test('generation fails on an unapproved verb, naming the operation', async (t) => {
  const error = failure(() =>
    renderModule(syntheticSpec({ 'GET /v1/things': { operationId: 'listThings', summary: 'Lists.', 'x-ams-cmdlet': 'Fetch-AmsThing' } })),
  );
  t.match(error.message, /Cannot generate the AccessManager module/);
  t.match(error.message, /#\/paths\/~1v1~1things\/get\/x-ams-cmdlet: "Fetch-AmsThing": "Fetch" is not an approved verb/);
});

t.test('generation fails on a missing x-ams-cmdlet and on a missing summary', async (t) => {
  const error = failure(() =>
    renderModule(
      syntheticSpec({
        'GET /v1/things': { operationId: 'listThings', summary: 'Lists.' },
        'POST /v1/things': { operationId: 'createThing', 'x-ams-cmdlet': 'New-AmsThing' },
      }),
    ),
  );
  t.match(error.message, /GET \/v1\/things has no x-ams-cmdlet/);
  t.match(error.message, /New-AmsThing needs a summary/);
  t.equal(error.problems.length, 2, 'every problem is reported at once');
});

t.test('generation fails on a duplicate cmdlet, also against the session cmdlets, whatever the case', async (t) => {
  const error = failure(() =>
    renderModule(
      syntheticSpec({
        'GET /v1/things': { operationId: 'listThings', summary: 'Lists.', 'x-ams-cmdlet': 'Get-AmsThing' },
        'GET /v1/things/{id}': {
          operationId: 'getThing',
          summary: 'Gets one.',
          'x-ams-cmdlet': 'Get-AmsTHING',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        },
        'GET /v1/connection': { operationId: 'connection', summary: 'Shows.', 'x-ams-cmdlet': 'Get-AmsConnection' },
      }),
    ),
  );
  t.match(error.message, /duplicate cmdlet Get-AmsTHING: GET \/v1\/things \(listThings\) has that name already/);
  t.match(error.message, /duplicate cmdlet Get-AmsConnection: the session cmdlet Get-AmsConnection/);
});

t.test('reserved parameter names: common parameters, automatic and preference variables, generated ones', async (t) => {
  for (const [name, reason] of [
    ['WhatIf', /common parameter -WhatIf/],
    ['confirm', /common parameter -Confirm/],
    ['Verbose', /common parameter/],
    ['Debug', /common parameter/],
    ['ErrorAction', /common parameter/],
    ['OutVariable', /common parameter/],
    ['PipelineVariable', /common parameter/],
    ['ProgressAction', /common parameter/],
    ['First', /common parameter/],
    ['Args', /automatic variable \$args/],
    ['Input', /automatic variable \$input/],
    ['PSItem', /automatic variable/],
    ['Error', /automatic variable/],
    ['Host', /automatic variable/],
    ['PID', /automatic variable/],
    ['Profile', /automatic variable/],
    ['Matches', /automatic variable/],
    ['This', /automatic variable/],
    ['ErrorActionPreference', /preference variable/],
    ['OFS', /preference variable/],
    ['Force', /generated parameter -Force/],
    ['AsPlainText', /generated parameter/],
    ['AmsBody', /generated code's local variable/],
  ] as const) {
    t.match(reservedParameterReason(name), reason, name);
  }
  for (const name of ['Name', 'DeviceId', 'Status', 'Reason', 'Description', 'Path', 'Body']) {
    t.equal(reservedParameterReason(name), undefined, `${name} is free`);
  }
});

t.test('generation fails on a reserved parameter name in path, query or body, and on clashing names', async (t) => {
  const error = failure(() =>
    renderModule(
      syntheticSpec({
        'GET /v1/things': {
          operationId: 'listThings',
          summary: 'Lists.',
          'x-ams-cmdlet': 'Get-AmsThing',
          parameters: [
            { name: 'input', in: 'query', schema: { type: 'string' } },
            { name: 'verbose', in: 'query', schema: { type: 'boolean' } },
          ],
          responses: jsonResponse(thing),
        },
        'POST /v1/things': {
          operationId: 'createThing',
          summary: 'Creates.',
          'x-ams-cmdlet': 'New-AmsThing',
          parameters: [{ name: 'name', in: 'query', schema: { type: 'string' } }],
          requestBody: jsonBody({
            type: 'object',
            properties: {
              error: { type: 'string' },
              Name: { type: 'string' },
              whatIf: { type: 'boolean' },
              label: { type: 'string', 'x-ams-aliases': ['ea'] },
            },
          }),
        },
      }),
    ),
  );
  t.match(error.message, /Get-AmsThing cannot have a parameter named Input: it collides with the automatic variable \$input/);
  t.match(error.message, /Get-AmsThing cannot have a parameter named Verbose: it collides with the common parameter -Verbose/);
  t.match(error.message, /New-AmsThing cannot have a parameter named Error/);
  t.match(error.message, /New-AmsThing cannot have a parameter named WhatIf/);
  t.match(error.message, /New-AmsThing would have two parameters \(or aliases\) named Name: the query field name and the body field Name/);
  t.match(error.message, /the alias ea collides with the common parameter -ea/);
  t.match(error.message, /requestBody\/content\/application~1json\/schema\/properties\/error/, 'the pointer names the field');
  t.match(error.message, /rename the field or set x-ams-parameter-name/);
});

t.test('x-ams-parameter-name renames a parameter out of a clash', async (t) => {
  const { model } = renderModule(
    syntheticSpec({
      'GET /v1/things': {
        operationId: 'listThings',
        summary: 'Lists.',
        'x-ams-cmdlet': 'Get-AmsThing',
        parameters: [{ name: 'input', in: 'query', schema: { type: 'string' }, 'x-ams-parameter-name': 'InputText' }],
        responses: jsonResponse(thing),
      },
    }),
  );
  t.same(
    model.cmdlets[0]!.parameters.map((p) => [p.name, p.wireName]),
    [['InputText', 'input']],
  );
});

t.test('names that are no identifiers are refused', async (t) => {
  const error = failure(() =>
    renderModule(
      syntheticSpec({
        'GET /v1/things': {
          operationId: 'listThings',
          summary: 'Lists.',
          'x-ams-cmdlet': 'Get-AmsThing',
          parameters: [{ name: '1st', in: 'query', schema: { type: 'string' } }],
        },
      }),
    ),
  );
  t.match(error.message, /"1st" gives the parameter name "1st", which is not a plain PowerShell identifier/);
});

t.test('PascalCase', async (t) => {
  t.equal(pascalCase('deviceName'), 'DeviceName');
  t.equal(pascalCase('id'), 'Id');
  t.equal(pascalCase('user_code'), 'UserCode');
  t.equal(pascalCase('x-request-id'), 'XRequestId');
  t.equal(pascalCase('passwordUpdateTime'), 'PasswordUpdateTime');
});
