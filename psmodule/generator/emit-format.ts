/**
 * AccessManager.format.ps1xml: a table view for every type a cmdlet emits, showing what an admin needs
 * (the schema's `x-ams-table-columns`, else its first required scalar properties), plus the connection.
 */
import { XML_GENERATED_NOTE, type Emitter } from './emitter.js';
import { MODULE_NAME } from './layout.js';
import type { ModuleModel } from './model.js';
import { xmlText } from './powershell.js';
import { tableColumns, type Column } from './table-columns.js';

function tableView(name: string, typeName: string, columns: Column[]): string[] {
  return [
    '    <View>',
    `      <Name>${xmlText(name)}</Name>`,
    '      <ViewSelectedBy>',
    `        <TypeName>${xmlText(typeName)}</TypeName>`,
    '      </ViewSelectedBy>',
    '      <TableControl>',
    '        <TableHeaders>',
    ...columns.flatMap((c) => ['          <TableColumnHeader>', `            <Label>${xmlText(c.label)}</Label>`, '          </TableColumnHeader>']),
    '        </TableHeaders>',
    '        <TableRowEntries>',
    '          <TableRowEntry>',
    '            <TableColumnItems>',
    ...columns.flatMap((c) => [
      '              <TableColumnItem>',
      c.property ? `                <PropertyName>${xmlText(c.property)}</PropertyName>` : `                <ScriptBlock>${xmlText(c.script!)}</ScriptBlock>`,
      '              </TableColumnItem>',
    ]),
    '            </TableColumnItems>',
    '          </TableRowEntry>',
    '        </TableRowEntries>',
    '      </TableControl>',
    '    </View>',
  ];
}

/** The connection Get-AmsConnection emits (a template, not an operation). */
const CONNECTION_COLUMNS = ['Uri', 'AuthenticationType', 'DisplayName', 'Role', 'ExpiresOn'].map((p) => ({ label: p, property: p }));

function formatFile(module: ModuleModel, headerText: string): string {
  const shapes = [...module.shapes.values()].filter((s) => s.emitted).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const views = [
    ...tableView('Ams.Connection', 'Ams.Connection', CONNECTION_COLUMNS),
    ...shapes.flatMap((shape) => {
      const columns = tableColumns(module.shapes, shape);
      return columns.length > 0 ? tableView(shape.typeNames[0]!, shape.typeNames[0]!, columns) : [];
    }),
  ];
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<!-- ${xmlText(headerText).replace(/--/g, '- -')} -->`,
    '<Configuration>',
    '  <ViewDefinitions>',
    ...views,
    '  </ViewDefinitions>',
    '</Configuration>',
    '',
  ].join('\n');
}

export const emitFormat: Emitter = (module) => [{ path: `${MODULE_NAME}.format.ps1xml`, content: formatFile(module, XML_GENERATED_NOTE) }];
