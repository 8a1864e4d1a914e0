/**
 * A spec string cannot break out of the help block, out of a string literal, or into a help section of
 * its own: checked by parsing what is generated from hostile text.
 */
import t from 'tap';
import { renderModule } from '../../psmodule/generator/index.js';
import { helpText, psString } from '../../psmodule/generator/powershell.js';
import { commandNames, descendants, functionsOf, helpSections, jsonBody, jsonResponse, parsePowerShell, syntaxErrors, syntheticSpec } from './powershell.js';

const HOSTILE = "Removes it #> Remove-Item C:\\ -Recurse <# it's $(Remove-Item C:\\) \"$env:USERNAME\" it’s ‘quoted’ `n";

t.test('psString: single quotes of every kind doubled, nothing expanded', async (t) => {
  t.equal(psString("it's"), "'it''s'");
  t.equal(psString('it’s'), "'it’’s'", 'PowerShell takes ’ for a quote too');
  t.equal(psString('‘a‚b‛'), "'‘‘a‚‚b‛‛'");
  t.equal(psString('$(Get-Date) "x" `n'), '\'$(Get-Date) "x" `n\'');
  t.equal(psString('a\r\nb\u0000c'), "'a\nbc'");
  const tree = await parsePowerShell(`$x = ${psString(HOSTILE)}\n`);
  t.same(syntaxErrors(tree), []);
  t.equal(descendants(tree.rootNode, 'expandable_string_literal').length, 0);
  t.same(commandNames(tree.rootNode), [], 'no command hides in the literal');
});

t.test('helpText: no early end of the block, no section of its own', async (t) => {
  t.equal(helpText('a #> b'), 'a # > b');
  t.equal(helpText('a <# b'), 'a < # b');
  t.equal(helpText('line\n.LINK https://evil.example\n  .parameter X'), 'line\n\\.LINK https://evil.example\n  \\.parameter X');
  t.equal(helpText('.Links are fine'), '.Links are fine');
  t.equal(helpText('a\r\nb  \r\n'), 'a\nb');
});

t.test('a hostile spec generates files that parse into exactly one function with its help', async (t) => {
  const spec = syntheticSpec({
    'POST /v1/things/{id}': {
      operationId: 'doThing',
      summary: HOSTILE,
      description: `${HOSTILE}\n.LINK https://evil.example\n.PARAMETER Id\nInjected.\n#>\nRemove-Item C:\\\n<#`,
      'x-ams-cmdlet': 'Set-AmsThing',
      'x-ams-examples': [{ code: "Set-AmsThing -Id 'x' #> Remove-Item C:\\", description: HOSTILE }],
      parameters: [{ name: 'id', in: 'path', required: true, description: HOSTILE, schema: { type: 'string' } }],
      requestBody: jsonBody({
        type: 'object',
        properties: {
          mode: { type: 'string', enum: ["it's", '$(Remove-Item C:\\)', 'a"b', 'it’s'], description: HOSTILE },
          label: { type: 'string', pattern: "^[a-z']+$", description: '#>' },
          note: { type: 'string', default: HOSTILE },
        },
      }),
      responses: jsonResponse({ type: 'object', description: HOSTILE, properties: { "we'ird": { type: 'string' } } }),
    },
  });
  const { files } = renderModule(spec);
  for (const file of files.filter((f) => /\.(ps1|psm1|psd1)$/.test(f.path))) {
    t.same(syntaxErrors(await parsePowerShell(file.content)), [], `${file.path} parses`);
  }

  const script = files.find((f) => f.path === 'Public/Set-AmsThing.ps1')!.content;
  const tree = await parsePowerShell(script);
  const top = tree.rootNode.children.filter((c) => c && c.type !== 'comment');
  t.equal(top.length, 1, 'one statement list at the top');
  t.same(
    top[0]!.children.map((c) => c?.type),
    ['function_statement'],
    'and in it one function: nothing escaped the help block',
  );
  const functions = functionsOf(tree);
  t.same(functions.map((f) => f.name), ['Set-AmsThing']);
  t.same(commandNames(functions[0]!.node).filter((n) => /Remove-Item/i.test(n)), [], 'Remove-Item is never a command');
  t.equal(descendants(tree.rootNode, 'expandable_string_literal').length, 0, 'no double-quoted string in generated code');
  t.equal(descendants(tree.rootNode, 'sub_expression').length, 0, 'no $(...) anywhere');

  const help = functions[0]!.help!;
  const sections = helpSections(help).map((s) => s.keyword);
  t.same(
    sections,
    ['SYNOPSIS', 'DESCRIPTION', 'PARAMETER Id', 'PARAMETER Mode', 'PARAMETER Label', 'PARAMETER Note', 'EXAMPLE', 'INPUTS', 'OUTPUTS', 'NOTES', 'LINK'],
    'the sections the generator wrote, and no injected ones',
  );
  t.match(help, /Removes it # > Remove-Item C:\\ -Recurse < # it's \$\(Remove-Item C:\\\)/, 'the text is there, defused');
  t.match(help, /\\\.LINK https:\/\/evil\.example/);
  t.match(script, /\[ValidateSet\('it''s', '\$\(Remove-Item C:\\\)', 'a"b', 'it’’s'\)\]/);
  t.match(script, /\[ValidatePattern\('\^\[a-z''\]\+\$'\)\]/);
  t.match(script, /ShouldProcess\(\$amsSubject, 'Removes it #> Remove-Item C:\\ -Recurse <# it''s \$\(Remove-Item C:\\\) "\$env:USERNAME" it’’s ‘‘quoted’’ `n'\)/);

  const shapes = files.find((f) => f.path === 'Private/AmsShapes.ps1')!.content;
  t.match(shapes, /Wire = 'we''ird'; Name = 'WeIrd'/);
});
