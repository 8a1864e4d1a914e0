/**
 * What cmdlets emit and how they change things: shapes with PSTypeNames, dates, secrets and nested
 * objects; item-by-item emission and paging; ShouldProcess, ConfirmImpact and -Force; format views.
 */
import t from 'tap';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { renderModule } from '../../psmodule/generator/index.js';
import { commandNames, callsShouldProcess, functionsOf, jsonBody, jsonResponse, parsePowerShell, syntaxErrors, syntheticSpec } from './powershell.js';

const schemas = {
  Password: {
    type: 'object',
    required: ['deviceName', 'account', 'password', 'passwordUpdateTime'],
    'x-ams-table-columns': ['deviceName', 'account', 'passwordUpdateTime', 'passwordExpirationTime'],
    description: 'A LAPS password.',
    properties: {
      deviceName: { type: 'string' },
      deviceId: { type: 'string' },
      account: { type: 'string' },
      password: { type: 'string', format: 'password' },
      passwordUpdateTime: { type: 'string', format: 'date-time' },
      passwordExpirationTime: { type: 'string', format: 'date-time' },
    },
  },
  Report: {
    type: 'object',
    properties: {
      ok: { type: 'boolean' },
      checks: { type: 'array', items: { type: 'object', title: 'Check', properties: { name: { type: 'string' }, at: { type: 'string', format: 'date-time' } } } },
      owner: { type: 'object', properties: { name: { type: 'string' } } },
      labels: { type: 'array', items: { type: 'string' } },
      history: { type: 'array', items: { type: 'string', format: 'date-time' } },
    },
  },
  Key: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' } } },
  CreatedKey: { allOf: [{ $ref: '#/components/schemas/Key' }, { type: 'object', properties: { key: { type: 'string', format: 'password' } } }] },
  KeyList: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Key' } } } },
};

const spec = syntheticSpec(
  {
    'POST /v1/secrets/password': {
      operationId: 'readPassword',
      summary: 'Reads a password.',
      'x-ams-cmdlet': 'Get-AmsPassword',
      'x-ams-should-process': false,
      requestBody: jsonBody({ type: 'object', properties: { deviceId: { type: 'string' } } }),
      responses: jsonResponse({ $ref: '#/components/schemas/Password' }),
    },
    'POST /v1/secrets/history': {
      operationId: 'readHistory',
      summary: 'Reads old passwords.',
      'x-ams-cmdlet': 'Get-AmsPasswordHistory',
      'x-ams-should-process': false,
      requestBody: jsonBody({ type: 'object', properties: { deviceId: { type: 'string' } } }),
      responses: jsonResponse({ type: 'array', items: { $ref: '#/components/schemas/Password' } }),
    },
    'POST /v1/checks': {
      operationId: 'runChecks',
      summary: 'Runs the checks.',
      'x-ams-cmdlet': 'Test-AmsThing',
      responses: jsonResponse({ $ref: '#/components/schemas/Report' }),
    },
    'GET /v1/keys': {
      operationId: 'listKeys',
      summary: 'Lists keys.',
      'x-ams-cmdlet': 'Get-AmsKey',
      'x-ams-role': 'admin',
      responses: jsonResponse({ $ref: '#/components/schemas/KeyList' }),
    },
    'POST /v1/keys': {
      operationId: 'createKey',
      summary: 'Creates a key.',
      'x-ams-cmdlet': 'New-AmsKey',
      requestBody: jsonBody({ type: 'object', required: ['name'], properties: { name: { type: 'string' } } }),
      responses: jsonResponse({ $ref: '#/components/schemas/CreatedKey' }, '201'),
    },
    'DELETE /v1/keys/{id}': {
      operationId: 'deleteKey',
      summary: 'Deletes a key.',
      'x-ams-cmdlet': 'Remove-AmsKey',
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
    },
    'POST /v1/keys/{id}/rotate': {
      operationId: 'rotateKey',
      summary: 'Rotates a key.',
      'x-ams-cmdlet': 'Reset-AmsKey',
      'x-ams-confirm-impact': 'High',
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      responses: jsonResponse({ $ref: '#/components/schemas/CreatedKey' }),
    },
    'GET /v1/events': {
      operationId: 'listEvents',
      summary: 'Lists events.',
      'x-ams-cmdlet': 'Get-AmsEvent',
      'x-ams-should-process': true,
      parameters: [
        { name: 'limit', in: 'query', schema: { type: 'integer' } },
        { name: 'cursor', in: 'query', schema: { type: 'string' } },
      ],
      responses: jsonResponse({
        type: 'object',
        properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Key' } }, nextCursor: { type: 'string' } },
      }),
    },
  },
  schemas,
);

const { model, files } = renderModule(spec);
const cmdlet = (name: string) => model.cmdlets.find((c) => c.name === name)!;
const code = (name: string) => files.find((f) => f.path === `Public/${name}.ps1`)!.content;

t.test('shapes: PSTypeNames, PascalCase, dates, secrets, nested objects, base types', async (t) => {
  const password = model.shapes.get('Password')!;
  t.same(password.typeNames, ['Ams.Password']);
  t.same(
    password.properties.map((p) => [p.name, p.kind]),
    [
      ['DeviceName', 'value'],
      ['DeviceId', 'value'],
      ['Account', 'value'],
      ['Password', 'secret'],
      ['PasswordUpdateTime', 'datetime'],
      ['PasswordExpirationTime', 'datetime'],
    ],
  );
  const report = model.shapes.get('Report')!;
  t.same(
    report.properties.map((p) => [p.name, p.kind, p.shape]),
    [
      ['Ok', 'value', undefined],
      ['Checks', 'objects', 'Check'],
      ['Owner', 'object', 'ReportOwner'],
      ['Labels', 'values', undefined],
      ['History', 'datetimes', undefined],
    ],
    'inline objects are named by their title, else by where they are',
  );
  t.same(model.shapes.get('Check')!.properties.map((p) => p.kind), ['value', 'datetime']);
  t.same(model.shapes.get('CreatedKey')!.typeNames, ['Ams.CreatedKey', 'Ams.Key'], 'allOf: the base type name too');
  t.same(
    model.shapes.get('CreatedKey')!.properties.map((p) => p.name),
    ['Id', 'Name', 'Description', 'Key'],
  );

  const shapes = files.find((f) => f.path === 'Private/AmsShapes.ps1')!.content;
  t.same(syntaxErrors(await parsePowerShell(shapes)), []);
  t.match(shapes, /'Password' = @\{\n\s+TypeNames = @\('Ams\.Password'\)/);
  t.match(shapes, /@\{ Wire = 'password'; Name = 'Password'; Kind = 'secret' \}/);
  t.match(shapes, /@\{ Wire = 'checks'; Name = 'Checks'; Kind = 'objects'; Shape = 'Check' \}/);
  t.match(shapes, /TypeNames = @\('Ams\.CreatedKey', 'Ams\.Key'\)/);
});

t.test('secrets: SecureString unless -AsPlainText, on the cmdlets whose output holds one', async (t) => {
  t.equal(cmdlet('Get-AmsPassword').asPlainText, true);
  t.equal(cmdlet('Get-AmsPasswordHistory').asPlainText, true);
  t.equal(cmdlet('New-AmsKey').asPlainText, true, 'a new key is a secret');
  t.equal(cmdlet('Get-AmsKey').asPlainText, false);
  t.match(code('Get-AmsPassword'), /\[switch\]\n\s+\$AsPlainText/);
  t.match(code('Get-AmsPassword'), /ConvertTo-AmsOutput -InputObject \$amsResponse -Shape 'Password' -AsPlainText:\$AsPlainText/);
  t.notMatch(code('Get-AmsKey'), /AsPlainText/);
});

t.test('emission: one object, each item of an array, each of items, page after page', async (t) => {
  t.equal(cmdlet('Get-AmsPassword').output?.emit, 'object');
  t.equal(cmdlet('Get-AmsPasswordHistory').output?.emit, 'each');
  t.match(code('Get-AmsPasswordHistory'), /foreach \(\$amsItem in \$amsResponse\) \{\n\s+ConvertTo-AmsOutput -InputObject \$amsItem -Shape 'Password' -AsPlainText:\$AsPlainText/);
  t.equal(cmdlet('Get-AmsKey').output?.emit, 'items');
  t.match(code('Get-AmsKey'), /foreach \(\$amsItem in \$amsResponse\.items\)/);
  t.equal(cmdlet('Remove-AmsKey').output, undefined);
  t.notMatch(code('Remove-AmsKey'), /ConvertTo-AmsOutput|OutputType/);

  const events = cmdlet('Get-AmsEvent');
  t.equal(events.output?.emit, 'paged');
  const list = code('Get-AmsEvent');
  t.match(list, /SupportsPaging = \$true/);
  t.match(list, /\$amsQuery\['limit'\] = \$PageSize/);
  t.match(list, /do \{[\s\S]*foreach \(\$amsItem in \$amsResponse\.items\) \{[\s\S]*\$PSCmdlet\.PagingParameters\.Skip[\s\S]*\$PSCmdlet\.PagingParameters\.First[\s\S]*\$amsCursor = Get-AmsProperty -InputObject \$amsResponse -Name 'nextCursor'\n\s+\$amsQuery\['cursor'\] = \$amsCursor\n\s+\} while \(\$amsCursor -and \$amsEmitted -lt \$PSCmdlet\.PagingParameters\.First\)/, 'pages until the last one, or until -First is satisfied (no request for a page nobody will see)');
});

t.test('OutputType names the emitted type', async (t) => {
  const [fn] = functionsOf(await parsePowerShell(code('Get-AmsKey')));
  t.equal(fn!.outputType, "[OutputType('Ams.Key')]");
  t.match(code('New-AmsKey'), /\[OutputType\('Ams\.CreatedKey'\)\]/);
});

t.test('ShouldProcess: changes yes, reads no (also over POST), the spec decides when it says', async (t) => {
  t.equal(cmdlet('Get-AmsPassword').shouldProcess, false, 'x-ams-should-process: false');
  t.equal(cmdlet('Test-AmsThing').shouldProcess, false, 'a Test verb reads, even over POST');
  t.equal(cmdlet('Get-AmsKey').shouldProcess, false);
  t.equal(cmdlet('New-AmsKey').shouldProcess, true);
  t.equal(cmdlet('Remove-AmsKey').shouldProcess, true);
  t.equal(cmdlet('Get-AmsEvent').shouldProcess, true, 'x-ams-should-process: true');
  for (const c of model.cmdlets) {
    const [fn] = functionsOf(await parsePowerShell(code(c.name)));
    t.equal(callsShouldProcess(fn!.node), c.shouldProcess, `${c.name} calls ShouldProcess exactly when it declares it`);
    t.equal(fn!.cmdletBinding?.get('SupportsShouldProcess') === '$true', c.shouldProcess, `${c.name} declares it`);
    t.ok(commandNames(fn!.node).includes('Invoke-AmsRequest'), `${c.name} calls through Invoke-AmsRequest`);
    t.notOk(commandNames(fn!.node).some((n) => /^Invoke-(RestMethod|WebRequest)$/i.test(n)), `${c.name} makes no HTTP call of its own`);
  }
  const create = code('New-AmsKey');
  t.match(create, /\$amsTarget = \$null\n\s+if \(\$PSBoundParameters\.ContainsKey\('Name'\)\) \{ \$amsTarget = \[string\]\$Name \}/);
  t.match(create, /\$amsSubject = 'key'\n\s+if \(\$null -ne \$amsTarget\) \{ \$amsSubject = '\{0\} ''\{1\}''' -f \$amsSubject, \$amsTarget \}/, 'the object named: key \'name\'');
  t.match(create, /if \(-not \$PSCmdlet\.ShouldProcess\(\$amsSubject, 'Creates a key'\)\) \{ return \}\n\s+\$amsResult = Invoke-AmsRequest/, 'asked right before the request');
});

t.test('Remove (and what the spec says is High) asks first, and takes -Force', async (t) => {
  t.equal(cmdlet('Remove-AmsKey').confirmImpact, 'High');
  t.equal(cmdlet('Remove-AmsKey').force, true);
  t.equal(cmdlet('Reset-AmsKey').confirmImpact, 'High', 'x-ams-confirm-impact');
  t.equal(cmdlet('New-AmsKey').confirmImpact, undefined);
  t.equal(cmdlet('New-AmsKey').force, false);
  const remove = code('Remove-AmsKey');
  t.match(remove, /ConfirmImpact = 'High'/);
  t.match(remove, /\[switch\]\n\s+\$Force/);
  t.match(remove, /if \(\$Force -and -not \$PSBoundParameters\.ContainsKey\('Confirm'\)\) \{ \$ConfirmPreference = 'None' \}\n[\s\S]*if \(-not \$PSCmdlet\.ShouldProcess\(\$amsSubject, 'Deletes a key'\)\)/);
  t.match(remove, /\$amsTarget = \[string\]\$Id/);
  t.notMatch(code('New-AmsKey'), /\$Force/);
});

t.test('format views: the spec\'s columns, else required scalar ones; well-formed XML', async (t) => {
  const xml = files.find((f) => f.path === 'AccessManager.format.ps1xml')!.content;
  t.equal(XMLValidator.validate(xml), true);
  const parsed = new XMLParser({ isArray: (name) => ['View', 'TableColumnHeader', 'TableColumnItem'].includes(name) }).parse(xml);
  const views = parsed.Configuration.ViewDefinitions.View as Array<{ Name: string; ViewSelectedBy: { TypeName: string }; TableControl: { TableHeaders: { TableColumnHeader: Array<{ Label: string }> }; TableRowEntries: { TableRowEntry: { TableColumnItems: { TableColumnItem: Array<{ PropertyName: string }> } } } } }>;
  const columns = (type: string) => views.find((v) => v.ViewSelectedBy.TypeName === type)?.TableControl.TableRowEntries.TableRowEntry.TableColumnItems.TableColumnItem.map((c) => c.PropertyName);
  t.same(columns('Ams.Password'), ['DeviceName', 'Account', 'PasswordUpdateTime', 'PasswordExpirationTime'], 'x-ams-table-columns');
  t.same(columns('Ams.Key'), ['Id', 'Name', 'Description']);
  t.same(columns('Ams.Connection'), ['Uri', 'AuthenticationType', 'DisplayName', 'Role', 'ExpiresOn']);
  t.equal(columns('Ams.Check'), undefined, 'nested types get no view of their own');
  t.ok(columns('Ams.Report'));
});

t.test('unknown table columns and a response with nextCursor but no cursor parameter are refused', async (t) => {
  t.throws(
    () =>
      renderModule(
        syntheticSpec(
          { 'GET /v1/x': { operationId: 'x', summary: 'X.', 'x-ams-cmdlet': 'Get-AmsX', responses: jsonResponse({ $ref: '#/components/schemas/X' }) } },
          { X: { type: 'object', 'x-ams-table-columns': ['nope'], properties: { id: { type: 'string' } } } },
        ),
      ),
    /#\/components\/schemas\/X\/x-ams-table-columns: must list property names/,
  );
  t.throws(
    () =>
      renderModule(
        syntheticSpec({
          'GET /v1/x': {
            operationId: 'x',
            summary: 'X.',
            'x-ams-cmdlet': 'Get-AmsX',
            responses: jsonResponse({ type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { a: { type: 'string' } } } }, nextCursor: { type: 'string' } } }),
          },
        }),
      ),
    /the response has nextCursor, so Get-AmsX pages; the operation needs a `cursor` query parameter/,
  );
});
