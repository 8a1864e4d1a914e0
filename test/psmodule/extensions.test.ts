/**
 * The vendor extensions that shape cmdlets beyond the schema: a file parameter whose text is sent
 * (Import-... -Path), -WhatIf answered by the server (a dry run) rather than by skipping the call, and
 * positional parameters.
 */
import t from 'tap';
import { renderModule } from '../../psmodule/generator/index.js';
import { commandNames, jsonBody, jsonResponse, parsePowerShell, syntaxErrors, syntheticSpec } from './powershell.js';

const spec = (csvExtensions: Record<string, unknown>, operationExtensions: Record<string, unknown> = {}) =>
  syntheticSpec({
    'POST /v1/widgets/import': {
      operationId: 'importWidgets',
      summary: 'Imports widgets.',
      'x-ams-cmdlet': 'Import-AmsWidget',
      ...operationExtensions,
      requestBody: jsonBody({
        type: 'object',
        required: ['csv'],
        properties: { csv: { type: 'string', maxLength: 1000, ...csvExtensions }, dryRun: { type: 'boolean' } },
      }),
      responses: jsonResponse({ type: 'object', properties: { created: { type: 'integer' } } }),
    },
  });

function importFunction(files: { path: string; content: string }[]): string {
  return files.find((f) => f.path.endsWith('Import-AmsWidget.ps1'))!.content;
}

t.test('x-ams-file-parameter: the cmdlet takes a path and sends the file text', async (t) => {
  const { files } = renderModule(spec({ 'x-ams-file-parameter': 'Path', 'x-ams-position': 0 }, { 'x-ams-what-if-property': 'dryRun' }));
  const code = importFunction(files);
  t.match(code, /\[Parameter\(Mandatory = \$true, Position = 0\)\]\s+\[string\]\s+\$Path/, 'a mandatory, positional -Path');
  t.notMatch(code, /\$Csv\b/, 'no -Csv parameter');
  t.notMatch(code, /ValidateLength\(0, 1000\)\]\s+\[string\]\s+\$Path/, "the text's length limit is not put on the path");
  t.match(code, /\$amsFile = Read-AmsTextFile -Path \$Path -Encoding \$Encoding -CommandName \$MyInvocation\.MyCommand\.Name\n\s+if \(\$null -ne \$amsFile\.ErrorRecord\) \{ \$PSCmdlet\.WriteError\(\$amsFile\.ErrorRecord\); return \}\n\s+\$amsBody\['csv'\] = \$amsFile\.Text/);
  t.match(code, /\[string\]\s+\$Encoding/, 'and -Encoding, for files that are not UTF-8');
  t.match(code, /\.PARAMETER Path\s+The file whose text is sent as csv\./);
  t.same(syntaxErrors(await parsePowerShell(code)), []);
});

t.test('x-ams-what-if-property: -WhatIf asks the server for a dry run instead of skipping the call', async (t) => {
  const { files } = renderModule(spec({}, { 'x-ams-what-if-property': 'dryRun' }));
  const code = importFunction(files);
  t.match(code, /SupportsShouldProcess = \$true/);
  t.match(code, /if \(-not \$PSCmdlet\.ShouldProcess\([^)]*\)\) \{\s+if \(\$WhatIfPreference\) \{ \$amsBody\['dryRun'\] = \$true \} else \{ return \}\s+\}/);
  t.notMatch(code, /\$DryRun\b/, 'the property is not a parameter of its own');
  t.same(syntaxErrors(await parsePowerShell(code)), []);

  const plain = importFunction(renderModule(spec({})).files);
  t.match(plain, /\$DryRun/, 'without the extension, dryRun is an ordinary switch');
  t.match(plain, /ShouldProcess\([^)]*\)\) \{ return \}/);
});

t.test('misused extensions fail generation with the pointer', async (t) => {
  t.throws(() => renderModule(spec({ 'x-ams-position': -1 })), /x-ams-position: must be a whole number/);
  t.throws(() => renderModule(spec({}, { 'x-ams-what-if-property': 'dryRun', 'x-ams-should-process': false })), /x-ams-what-if-property: must name a boolean body property of an operation that supports -WhatIf/);
});

t.test('a file that cannot be read is the cmdlet’s own non-terminating error, not the caller’s script stopping', async (t) => {
  const code = importFunction(renderModule(spec({ 'x-ams-file-parameter': 'Path' })).files);
  t.match(code, /if \(\$null -ne \$amsFile\.ErrorRecord\) \{ \$PSCmdlet\.WriteError\(\$amsFile\.ErrorRecord\); return \}/, 'written, not thrown');
  const files = renderModule(spec({ 'x-ams-file-parameter': 'Path' })).files.find((f) => f.path === 'Private/AmsFiles.ps1')!.content;
  t.match(files, /'PathNotFound' \('Cannot find the file/);
  t.match(files, /'NotUtf8'/, 'a file that is not UTF-8 is refused');
  t.same(syntaxErrors(await parsePowerShell(code)), []);
});

t.test('on PowerShell 7 answers are parsed with strings kept strings (no date-shaped note or password turned into a [datetime])', async (t) => {
  const { files } = renderModule(spec({}));
  const request = files.find((f) => f.path.endsWith('Invoke-AmsRequest.ps1'))!.content;
  t.match(request, /if \(\$PSVersionTable\.PSEdition -ne 'Core'\) \{\n\s+# 5\.1's JSON reader leaves ISO 8601 strings as strings\.\n\s+try \{ return ConvertFrom-Json/, '5.1: ConvertFrom-Json, which keeps strings');
  const commands = commandNames((await parsePowerShell(request)).rootNode);
  t.notOk(commands.some((name) => /^Invoke-(WebRequest|RestMethod)$/i.test(name)), 'no web cmdlet: they write headers and bodies to the debug stream');
  t.match(request, /\[System\.Text\.Json\.JsonDocument\]::Parse\(\$Json\)/, '7: System.Text.Json, which does not guess dates');
  t.same(syntaxErrors(await parsePowerShell(request)), []);
});
