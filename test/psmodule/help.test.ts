/**
 * Comment-based help and examples: from the spec when it gives them (x-ams-examples, x-ams-help-uri),
 * synthesized from parameters and pipeline sources otherwise; and table columns through nested objects.
 */
import t from 'tap';
import { renderModule } from '../../psmodule/generator/index.js';
import { examplesFor, sample } from '../../psmodule/generator/cmdlet-help.js';
import { tableColumns } from '../../psmodule/generator/table-columns.js';
import type { ParameterModel } from '../../psmodule/generator/model.js';
import { functionsOf, helpSections, jsonBody, jsonResponse, parsePowerShell, syntaxErrors, syntheticSpec } from './powershell.js';

const schemas = {
  Device: {
    type: 'object',
    required: ['deviceName', 'deviceId'],
    properties: { deviceName: { type: 'string' }, deviceId: { type: 'string' }, tenantId: { type: 'string' } },
  },
  DeviceList: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Device' } } } },
  Rule: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, description: { type: 'string' } } },
  Access: {
    type: 'object',
    properties: {
      user: { type: 'object', properties: { principalId: { type: 'string' }, displayName: { type: 'string' } } },
      device: { $ref: '#/components/schemas/Device' },
      decisions: { type: 'array', items: { type: 'object', required: ['accessType'], properties: { accessType: { type: 'string' }, allowed: { type: 'boolean' } } } },
    },
  },
  Audit: {
    type: 'object',
    'x-ams-table-columns': ['time', 'actor.displayName', 'decisions.accessType'],
    properties: {
      time: { type: 'string', format: 'date-time' },
      actor: { type: 'object', properties: { displayName: { type: 'string' } } },
      decisions: { type: 'array', items: { type: 'object', properties: { accessType: { type: 'string' } } } },
    },
  },
};

const spec = syntheticSpec(
  {
    'GET /v1/devices': {
      operationId: 'listDevices',
      summary: 'Finds devices.',
      'x-ams-cmdlet': 'Get-AmsDevice',
      parameters: [{ name: 'name', in: 'query', description: 'The name, e.g. `PC-0001`.', schema: { type: 'string' } }],
      responses: jsonResponse({ $ref: '#/components/schemas/DeviceList' }),
    },
    'POST /v1/secrets/password': {
      operationId: 'readPassword',
      summary: 'Reads a password.',
      'x-ams-cmdlet': 'Get-AmsPassword',
      'x-ams-should-process': false,
      requestBody: jsonBody({ type: 'object', properties: { computerName: { type: 'string' }, deviceId: { type: 'string' }, reason: { type: 'string' } } }),
      responses: jsonResponse({ type: 'object', properties: { password: { type: 'string', format: 'password' } } }),
    },
    'GET /v1/rules': {
      operationId: 'listRules',
      summary: 'Lists rules.',
      'x-ams-cmdlet': 'Get-AmsRule',
      responses: jsonResponse({ type: 'array', items: { $ref: '#/components/schemas/Rule' } }),
    },
    'DELETE /v1/rules/{id}': {
      operationId: 'deleteRule',
      summary: 'Deletes a rule.',
      'x-ams-cmdlet': 'Remove-AmsRule',
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      'x-ams-examples': [
        { title: 'Remove the disabled rules', code: 'Get-AmsRule | Where-Object Disabled | Remove-AmsRule -Force', description: 'No question asked.' },
        'Remove-AmsRule -Id $id',
      ],
    },
    'GET /v1/access': {
      operationId: 'getAccess',
      summary: 'Shows access.',
      'x-ams-cmdlet': 'Get-AmsAccess',
      responses: jsonResponse({ $ref: '#/components/schemas/Access' }),
    },
    'GET /v1/audit': {
      operationId: 'listAudit',
      summary: 'Lists audit events.',
      'x-ams-cmdlet': 'Get-AmsAudit',
      responses: jsonResponse({ type: 'array', items: { $ref: '#/components/schemas/Audit' } }),
    },
  },
  schemas,
  { 'x-ams-help-uri': 'https://docs.example.net/amsd/{cmdlet}#{operationId}' },
);

const { model, files } = renderModule(spec);
const cmdlet = (name: string) => model.cmdlets.find((c) => c.name === name)!;
const code = (name: string) => files.find((f) => f.path === `Public/${name}.ps1`)!.content;

async function sections(name: string) {
  const [fn] = functionsOf(await parsePowerShell(code(name)));
  return helpSections(fn!.help!);
}

t.test('the spec\'s examples are used as they are', async (t) => {
  const examples = (await sections('Remove-AmsRule')).filter((s) => s.keyword === 'EXAMPLE');
  t.same(
    examples.map((e) => e.text),
    ['PS> Get-AmsRule | Where-Object Disabled | Remove-AmsRule -Force\n\nRemove the disabled rules\n\nNo question asked.', 'PS> Remove-AmsRule -Id $id'],
  );
});

t.test('synthesized examples: a call, -WhatIf, and a pipeline from the Get cmdlet that fits', async (t) => {
  t.same(
    examplesFor(model, cmdlet('Get-AmsPassword')).map((e) => e.code),
    ["Get-AmsPassword -ComputerName 'PC-0001' -AsPlainText", "Get-AmsDevice -Name 'PC-0001' | Get-AmsPassword"],
    'a device from Get-AmsDevice, filtered by the e.g. of its description',
  );
  t.match(examplesFor(model, cmdlet('Get-AmsPassword'))[1]!.description, /the DeviceId property of each object binds to -DeviceId/);
  t.same(
    examplesFor(model, cmdlet('Get-AmsRule')).map((e) => e.code),
    ['Get-AmsRule'],
    'no pipeline into a list of something else',
  );
  for (const name of ['Get-AmsPassword', 'Get-AmsRule', 'Get-AmsAccess']) {
    for (const example of examplesFor(model, cmdlet(name))) t.same(syntaxErrors(await parsePowerShell(example.code)), [], example.code);
  }
});

t.test('sample values', async (t) => {
  const p = (over: Partial<ParameterModel>): ParameterModel => ({
    name: 'X',
    wireName: 'x',
    in: 'body',
    type: 'string',
    required: false,
    mandatoryIn: [],
    nullable: false,
    pipeline: false,
    aliases: [],
    description: '',
    pointer: '#',
    ...over,
  });
  t.equal(sample(p({ example: "it's" })).code, "'it''s'");
  t.equal(sample(p({ type: 'SecureString', name: 'ClientSecret' })).code, "(Read-Host -AsSecureString -Prompt 'ClientSecret')");
  t.equal(sample(p({ type: 'datetime' })).code, '(Get-Date).AddDays(30)');
  t.equal(sample(p({ validateSet: ['Hidden', 'Required'] })).code, "'Hidden'");
  t.equal(sample(p({ type: 'int', validateRange: [5, 9] })).code, '5');
  t.equal(sample(p({ format: 'uuid' })).specific, false);
  t.equal(sample(p({ wireName: 'reason' })).code, "'Ticket 4711'");
  t.equal(sample(p({ description: 'A host, e.g. `https://login.example.net`.' })).code, "'https://login.example.net'");
  t.same(sample(p({})), { code: "'example'", specific: false });
});

t.test('help: inputs, outputs, notes, and the online link from x-ams-help-uri', async (t) => {
  const help = await sections('Get-AmsPassword');
  const text = (keyword: string) => help.filter((s) => s.keyword === keyword).map((s) => s.text);
  t.match(text('INPUTS')[0], /Objects with a property named DeviceId bind to the parameter of that name, for example what Get-AmsDevice returns/);
  t.match(text('OUTPUTS')[0], /^Ams\.Password\nSecret properties are SecureString objects unless -AsPlainText is given\./);
  t.match(text('NOTES')[0], /Calls POST \/v1\/secrets\/password \(operation readPassword\)/);
  t.same(text('LINK'), ['https://docs.example.net/amsd/Get-AmsPassword#readPassword', 'about_AccessManager']);
  t.match(code('Get-AmsPassword'), /HelpUri = 'https:\/\/docs\.example\.net\/amsd\/Get-AmsPassword#readPassword'/);
  t.match(text('DESCRIPTION')[0], /Any signed-in caller may use it/);
  t.same(text('INPUTS'), ['System.Management.Automation.PSObject\nObjects with a property named DeviceId bind to the parameter of that name, for example what Get-AmsDevice returns.']);
  t.same((await sections('Get-AmsRule')).find((s) => s.keyword === 'INPUTS')?.text, 'None. This command takes no pipeline input.');
  const remove = await sections('Remove-AmsRule');
  t.match(remove.find((s) => s.keyword === 'DESCRIPTION')!.text, /Asks for confirmation first \(ConfirmImpact High\) unless -Force is given; supports -WhatIf\./);
  t.match(remove.find((s) => s.keyword === 'PARAMETER Force')!.text, /without asking for confirmation/);
  t.same(remove.filter((s) => s.keyword === 'LINK').map((s) => s.text), ['https://docs.example.net/amsd/Remove-AmsRule#deleteRule', 'about_AccessManager', 'Get-AmsRule']);
});

t.test('table columns: the spec\'s dotted paths, nested names when there is nothing else to show', async (t) => {
  t.same(tableColumns(model.shapes, model.shapes.get('Audit')!), [
    { label: 'Time', property: 'Time' },
    { label: 'Actor', script: '$_.Actor.DisplayName' },
    { label: 'Decisions', script: "($_.Decisions | ForEach-Object { $_.AccessType }) -join ', '" },
  ]);
  t.same(tableColumns(model.shapes, model.shapes.get('Access')!), [
    { label: 'User', script: '$_.User.DisplayName' },
    { label: 'Device', script: '$_.Device.DeviceName' },
    { label: 'Decisions', script: "($_.Decisions | ForEach-Object { $_.AccessType }) -join ', '" },
  ]);
  const xml = files.find((f) => f.path === 'AccessManager.format.ps1xml')!.content;
  t.match(xml, /<ScriptBlock>\(\$_\.Decisions \| ForEach-Object \{ \$_\.AccessType \}\) -join &apos;, &apos;<\/ScriptBlock>/);
  for (const script of xml.matchAll(/<ScriptBlock>(.*)<\/ScriptBlock>/g)) {
    const source = script[1]!.replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    t.same(syntaxErrors(await parsePowerShell(source)), [], `${source} parses`);
  }
});

t.test('warnings, not failures, for what is only left out', async (t) => {
  const { warnings } = renderModule(
    syntheticSpec({
      'POST /v1/x': {
        operationId: 'x',
        summary: 'X.',
        'x-ams-cmdlet': 'Invoke-AmsX',
        parameters: [{ name: 'X-Trace', in: 'header', schema: { type: 'string' } }],
        requestBody: jsonBody({ type: 'object', oneOf: [{ type: 'object', properties: { a: { type: 'string' } } }], properties: { a: { type: 'string' } } }),
      },
      'PUT /v1/y': { operationId: 'y', summary: 'Y.', 'x-ams-cmdlet': 'Set-AmsY' },
    }),
  );
  t.match(warnings.join('\n'), /header parameter X-Trace is not exposed by the cmdlet/);
  t.match(warnings.join('\n'), /only alternatives made of `required` lists become parameter sets/);
  t.match(warnings.join('\n'), /Set-AmsY changes something but the operation answers no JSON, so the cmdlet emits nothing/);
});

t.test('a parameter without a description fails generation, naming it: its help would tell a user nothing', async (t) => {
  const doc = syntheticSpec(
    {
      'POST /v1/things': {
        operationId: 'createThing',
        'x-ams-cmdlet': 'New-AmsThing',
        summary: 'Creates a thing.',
        requestBody: jsonBody({ type: 'object', properties: { label: { type: 'string' } } }),
      },
    },
    {},
    {},
    { describe: false },
  );
  t.throws(() => renderModule(doc), /properties\/label: label needs a description: it is the help of the parameter -Label/);
});
