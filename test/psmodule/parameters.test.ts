/**
 * Parameters from path, query and top-level body properties: names, types, Mandatory, validation,
 * secrets, switches, pipeline binding with aliases, parameter sets — in the model and in the code.
 */
import t from 'tap';
import { renderModule, type GeneratedFile } from '../../psmodule/generator/index.js';
import type { ParameterModel } from '../../psmodule/generator/model.js';
import { functionsOf, jsonBody, jsonResponse, parsePowerShell, syntaxErrors, syntheticSpec } from './powershell.js';

const schemas = {
  Role: { type: 'string', enum: ['admin', 'user'], description: 'What the key may do.' },
  Widget: {
    type: 'object',
    required: ['id', 'widgetName'],
    properties: { id: { type: 'string', format: 'uuid' }, widgetName: { type: 'string' }, tenantId: { type: 'string' } },
  },
  NewWidget: {
    type: 'object',
    required: ['widgetName', 'role', 'secretValue'],
    properties: {
      widgetName: { type: 'string', minLength: 1, maxLength: 64, pattern: "^[a-z]+'$", example: 'gadget' },
      role: { $ref: '#/components/schemas/Role' },
      secretValue: { type: 'string', format: 'password', writeOnly: true, description: 'The secret.' },
      count: { type: 'integer', minimum: 1, maximum: 10 },
      bigCount: { type: 'integer', format: 'int64' },
      ratio: { type: 'number' },
      expiresAt: { type: 'string', format: 'date-time' },
      disabled: { type: 'boolean' },
      enabled: { type: 'boolean', default: true },
      tags: { type: 'array', items: { type: 'string', enum: ['red', 'blue'] } },
      ids: { type: 'array', items: { type: 'string', format: 'uuid' } },
      settings: { type: 'object', additionalProperties: true },
      note: { type: 'string', nullable: true, maxLength: 10 },
      until: { type: 'string', format: 'date-time', nullable: true },
      createdAt: { type: 'string', format: 'date-time', readOnly: true },
      mode: { allOf: [{ $ref: '#/components/schemas/Role' }], default: 'user', description: 'The mode.' },
    },
  },
};

const spec = syntheticSpec(
  {
    'GET /v1/widgets': {
      operationId: 'listWidgets',
      summary: 'Lists widgets.',
      'x-ams-cmdlet': 'Get-AmsWidget',
      parameters: [
        { name: 'status', in: 'query', schema: { type: 'string', enum: ['on', 'off'] } },
        { name: 'tenantId', in: 'query', schema: { type: 'string', format: 'uuid' } },
        { name: 'since', in: 'query', required: true, schema: { type: 'string', format: 'date-time' } },
      ],
      responses: jsonResponse({ type: 'array', items: { $ref: '#/components/schemas/Widget' } }),
    },
    'POST /v1/widgets': {
      operationId: 'createWidget',
      summary: 'Creates a widget.',
      'x-ams-cmdlet': 'New-AmsWidget',
      requestBody: jsonBody({ $ref: '#/components/schemas/NewWidget' }),
      responses: jsonResponse({ $ref: '#/components/schemas/Widget' }, '201'),
    },
    'DELETE /v1/widgets/{id}': {
      operationId: 'deleteWidget',
      summary: 'Deletes a widget.',
      'x-ams-cmdlet': 'Remove-AmsWidget',
      parameters: [{ name: 'id', in: 'path', required: true, description: 'The id.', schema: { type: 'string' } }],
    },
    'POST /v1/widget-secrets': {
      operationId: 'readWidgetSecret',
      summary: 'Reads a widget secret.',
      'x-ams-cmdlet': 'Get-AmsWidgetSecret',
      'x-ams-should-process': false,
      requestBody: jsonBody({
        type: 'object',
        oneOf: [{ required: ['widgetId'] }, { required: ['widgetLabel'] }],
        properties: {
          widgetId: { type: 'string' },
          widgetLabel: { type: 'string', 'x-ams-aliases': ['WidgetName'] },
          tenantId: { type: 'string' },
          comment: { type: 'string' },
        },
      }),
      responses: jsonResponse({ type: 'object', properties: { secret: { type: 'string', format: 'password' } } }),
    },
    'PATCH /v1/widgets/{id}': {
      operationId: 'updateWidget',
      summary: 'Changes a widget.',
      'x-ams-cmdlet': 'Set-AmsWidget',
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      requestBody: jsonBody({ type: 'object', properties: { tenantId: { type: 'string' }, label: { type: 'string', 'x-ams-pipeline': true } } }),
      responses: jsonResponse({ $ref: '#/components/schemas/Widget' }),
    },
  },
  schemas,
);

const { model, files } = renderModule(spec);
const cmdlet = (name: string) => model.cmdlets.find((c) => c.name === name)!;
const param = (cmdletName: string, name: string): ParameterModel => cmdlet(cmdletName).parameters.find((p) => p.name === name)!;
const file = (name: string): GeneratedFile => files.find((f) => f.path === `Public/${name}.ps1`)!;

t.test('names, places and types', async (t) => {
  const create = cmdlet('New-AmsWidget');
  t.same(
    create.parameters.map((p) => [p.name, p.in, p.type]),
    [
      ['WidgetName', 'body', 'string'],
      ['Role', 'body', 'string'],
      ['SecretValue', 'body', 'SecureString'],
      ['Count', 'body', 'int'],
      ['BigCount', 'body', 'long'],
      ['Ratio', 'body', 'double'],
      ['ExpiresAt', 'body', 'datetime'],
      ['Disabled', 'body', 'switch'],
      ['Enabled', 'body', 'bool'],
      ['Tags', 'body', 'string[]'],
      ['Ids', 'body', 'string[]'],
      ['Settings', 'body', 'hashtable'],
      ['Note', 'body', 'string'],
      ['Until', 'body', 'datetime'],
      ['Mode', 'body', 'string'],
    ],
    'readOnly fields are not parameters; a boolean defaulting to true is a [bool], others switches',
  );
  t.same(
    cmdlet('Get-AmsWidget').parameters.map((p) => [p.name, p.in, p.type, p.required]),
    [
      ['Status', 'query', 'string', false],
      ['TenantId', 'query', 'string', false],
      ['Since', 'query', 'datetime', true],
    ],
  );
  t.same(
    cmdlet('Remove-AmsWidget').parameters.map((p) => [p.name, p.in, p.required, p.position]),
    [['Id', 'path', true, 0]],
  );
});

t.test('Mandatory from required, validation from the schema', async (t) => {
  t.equal(param('New-AmsWidget', 'WidgetName').required, true);
  t.equal(param('New-AmsWidget', 'Count').required, false);
  t.same(param('New-AmsWidget', 'Role').validateSet, ['admin', 'user'], 'enum through $ref');
  t.same(param('New-AmsWidget', 'Mode').validateSet, ['admin', 'user'], 'enum through allOf');
  t.equal(param('New-AmsWidget', 'Mode').defaultValue, 'user');
  t.equal(param('New-AmsWidget', 'Mode').description, 'The mode.', 'the description beside the reference wins');
  t.equal(param('New-AmsWidget', 'Role').description, 'What the key may do.');
  t.same(param('New-AmsWidget', 'Tags').validateSet, ['red', 'blue'], 'enum of array items');
  t.same(param('New-AmsWidget', 'WidgetName').validateLength, [1, 64]);
  t.equal(param('New-AmsWidget', 'WidgetName').validatePattern, "^[a-z]+'$");
  t.same(param('New-AmsWidget', 'Count').validateRange, [1, 10]);
  t.equal(param('New-AmsWidget', 'Note').nullable, true);
  t.equal(param('New-AmsWidget', 'Note').validateLength, undefined, 'an empty string (null) must pass');

  const code = file('New-AmsWidget').content;
  t.match(code, /\[Parameter\(Mandatory = \$true\)\]\n\s+\[ValidateLength\(1, 64\)\]\n\s+\[ValidatePattern\('\^\[a-z\]\+''\$'\)\]\n\s+\[string\]\n\s+\$WidgetName/);
  t.match(code, /\[ValidateSet\('admin', 'user'\)\]\n\s+\[string\]\n\s+\$Role/);
  t.match(code, /\[Parameter\(Mandatory = \$true\)\]\n\s+\[System\.Security\.SecureString\]\n\s+\$SecretValue/);
  t.match(code, /\[ValidateRange\(1, 10\)\]\n\s+\[int\]\n\s+\$Count/);
  t.match(code, /\[long\]\n\s+\$BigCount/);
  t.match(code, /\[datetime\]\n\s+\$ExpiresAt/);
  t.match(code, /\[switch\]\n\s+\$Disabled/);
  t.match(code, /\[bool\]\n\s+\$Enabled/);
  t.match(code, /\[ValidateSet\('red', 'blue'\)\]\n\s+\[string\[\]\]\n\s+\$Tags/);
  t.match(code, /\[hashtable\]\n\s+\$Settings/);
  t.match(code, /\[AllowEmptyString\(\)\]\n\s+\[string\]\n\s+\$Note/);
  t.match(code, /\[Nullable\[datetime\]\]\n\s+\$Until/, 'a nullable date takes $null');
});

t.test('the body is built from the bound parameters only, secrets and switches as they must go', async (t) => {
  const code = file('New-AmsWidget').content;
  t.match(code, /if \(\$PSBoundParameters\.ContainsKey\('WidgetName'\)\) \{ \$amsBody\['widgetName'\] = \$WidgetName \}/);
  // The SecureString goes to Invoke-AmsRequest as it is: it becomes plain text only there, in the body.
  t.match(code, /\$amsBody\['secretValue'\] = \$SecretValue \}/);
  t.match(code, /\$amsBody\['disabled'\] = \$Disabled\.IsPresent \}/, '-Disabled:$false sends false');
  t.match(code, /if \(\[string\]::IsNullOrEmpty\(\$Note\)\) \{ \$amsBody\['note'\] = \$null \} else \{ \$amsBody\['note'\] = \$Note \}/);
  t.match(code, /if \(\$null -eq \$Until\) \{ \$amsBody\['until'\] = \$null \}/);
  t.notMatch(code, /createdAt/);
  t.match(code, /Invoke-AmsRequest -Method 'POST' -Path \$amsPath -Body \$amsBody -CommandName \$MyInvocation\.MyCommand\.Name/);

  const list = file('Get-AmsWidget').content;
  t.match(list, /if \(\$PSBoundParameters\.ContainsKey\('Since'\)\) \{ \$amsQuery\['since'\] = \$Since \}/);
  t.match(list, /-Query \$amsQuery/);
  t.notMatch(list, /-Body/);
});

t.test('path segments are escaped', async (t) => {
  t.match(file('Remove-AmsWidget').content, /\$amsPath = '\/v1\/widgets\/' \+ \[uri\]::EscapeDataString\(\[string\]\$Id\)/);
  t.match(file('Remove-AmsWidget').content, /\[Parameter\(Mandatory = \$true, Position = 0, ValueFromPipelineByPropertyName = \$true\)\]\n\s+\[ValidateNotNullOrEmpty\(\)\]/);
});

t.test('pipeline binding: path ids, ids of reads, aliases, explicit x-ams-pipeline', async (t) => {
  t.equal(param('Remove-AmsWidget', 'Id').pipeline, true, 'path parameters bind from the pipeline');
  t.equal(param('Get-AmsWidget', 'TenantId').pipeline, true, 'ids of reads bind from the pipeline');
  t.equal(param('Get-AmsWidget', 'Status').pipeline, false);
  t.equal(param('Get-AmsWidgetSecret', 'WidgetId').pipeline, true, 'a body id of a POST read');
  t.equal(param('Get-AmsWidgetSecret', 'WidgetLabel').pipeline, true, 'aliases imply pipeline binding');
  t.same(param('Get-AmsWidgetSecret', 'WidgetLabel').aliases, ['WidgetName']);
  t.equal(param('Get-AmsWidgetSecret', 'Comment').pipeline, false);
  t.equal(param('Set-AmsWidget', 'TenantId').pipeline, false, 'body ids of changes do not: piping an object in must not retarget it');
  t.equal(param('Set-AmsWidget', 'Label').pipeline, true, 'unless the spec says so');
  t.match(file('Get-AmsWidgetSecret').content, /\[Alias\('WidgetName'\)\]/);
});

t.test('oneOf alternatives of required fields become parameter sets', async (t) => {
  const read = cmdlet('Get-AmsWidgetSecret');
  t.same(read.parameterSets, ['ByWidgetId', 'ByWidgetLabel']);
  t.same(param('Get-AmsWidgetSecret', 'WidgetId').mandatoryIn, ['ByWidgetId']);
  const code = file('Get-AmsWidgetSecret').content;
  t.match(code, /\[CmdletBinding\(DefaultParameterSetName = 'ByWidgetId', PositionalBinding = \$false\)\]/);
  t.match(code, /\[Parameter\(Mandatory = \$true, ParameterSetName = 'ByWidgetId', ValueFromPipelineByPropertyName = \$true\)\]\n\s+\[string\]\n\s+\$WidgetId/);
  t.match(code, /\[Parameter\(Mandatory = \$true, ParameterSetName = 'ByWidgetLabel', ValueFromPipelineByPropertyName = \$true\)\]\n\s+\[Alias\('WidgetName'\)\]/);
  t.match(code, /\[Parameter\(\)\]\n\s+\[string\]\n\s+\$Comment/, 'others are in every set');
});

t.test('the generated scripts parse, with the parameters declared', async (t) => {
  for (const f of files.filter((f) => f.path.startsWith('Public/'))) {
    const tree = await parsePowerShell(f.content);
    t.same(syntaxErrors(tree), [], `${f.path} parses`);
  }
  const [fn] = functionsOf(await parsePowerShell(file('New-AmsWidget').content));
  t.equal(fn!.name, 'New-AmsWidget');
  t.same(fn!.parameters, [...cmdlet('New-AmsWidget').parameters.map((p) => p.name)]);
  t.equal(fn!.cmdletBinding?.get('SupportsShouldProcess'), '$true');
  const [remove] = functionsOf(await parsePowerShell(file('Remove-AmsWidget').content));
  t.same(remove!.parameters, ['Id', 'Force']);
  t.equal(remove!.cmdletBinding?.get('ConfirmImpact'), "'High'");
});

t.test('page size and cursor of a paged list', async (t) => {
  const paged = renderModule(
    syntheticSpec(
      {
        'GET /v1/items': {
          operationId: 'listItems',
          summary: 'Lists items.',
          'x-ams-cmdlet': 'Get-AmsItem',
          parameters: [
            { name: 'top', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: jsonResponse({
            type: 'object',
            properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Item' } }, nextCursor: { type: 'string' } },
          }),
        },
      },
      { Item: { type: 'object', properties: { id: { type: 'string' } } } },
    ),
  );
  const list = paged.model.cmdlets[0]!;
  t.same(
    list.parameters.map((p) => [p.name, p.wireName]),
    [['PageSize', 'top']],
    'the cursor is the cmdlet\'s business; top is a page size, not a total',
  );
  t.equal(list.cursorParameter, 'cursor');
});
