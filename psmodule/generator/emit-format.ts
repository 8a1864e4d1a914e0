/**
 * AccessManager.format.ps1xml: a table view for every type a cmdlet emits, showing what an admin needs
 * (the schema's `x-ams-table-columns`, else its first required scalar properties), plus the connection.
 */
import type { ModuleModel, ShapeModel, ShapeProperty } from './model.js';
import { xmlText } from './powershell.js';

const MAX_COLUMNS = 6;

export interface Column {
  label: string;
  /** A property of the object itself. */
  property?: string;
  /** A script block for a property of a nested object (`$_.User.DisplayName`). */
  script?: string;
}

function isScalar(p: ShapeProperty): boolean {
  return p.kind === 'value' || p.kind === 'datetime';
}

/** The property that names a nested object best: a name, else its first required scalar, else its first scalar. */
export function namingProperty(shape: ShapeModel | undefined): ShapeProperty | undefined {
  const scalars = shape?.properties.filter((p) => isScalar(p) && p.parentWire === undefined) ?? [];
  return scalars.find((p) => /name$/i.test(p.wireName)) ?? scalars.find((p) => p.required) ?? scalars[0];
}

/**
 * A column for a wire path (`deviceName`, `user.displayName`, `access.accessType`), or undefined when the
 * path does not lead to a property. Through an array of objects, the values are joined.
 */
export function columnFor(shapes: Map<string, ShapeModel>, shape: ShapeModel, path: string): Column | undefined {
  const segments = path.split('.');
  const names: string[] = [];
  let current: ShapeModel | undefined = shape;
  let arrayAt = -1;
  // A flattened child (`outcome.code` → Outcome) is a property of the object itself.
  if (segments.length === 2) {
    const flattened = shape.properties.find((p) => p.parentWire === segments[0] && p.wireName === segments[1]);
    if (flattened) return column(flattened);
  }
  for (const [index, segment] of segments.entries()) {
    const property: ShapeProperty | undefined = current?.properties.find((p) => p.wireName === segment && p.parentWire === undefined);
    if (!property) return undefined;
    names.push(property.name);
    if (index < segments.length - 1) {
      if (!property.shape) return undefined;
      if (property.kind === 'objects') {
        if (arrayAt >= 0) return undefined;
        arrayAt = index;
      }
      current = shapes.get(property.shape);
    }
  }
  const label = names[0]!;
  if (names.length === 1) return column(shape.properties.find((p) => p.name === label)!);
  if (arrayAt < 0) return { label, script: `$_.${names.join('.')}` };
  const list = names.slice(0, arrayAt + 1).join('.');
  const item = names.slice(arrayAt + 1).join('.');
  return { label, script: `($_.${list} | ForEach-Object { $_.${item} }) -join ', '` };
}

/**
 * A column for a property of the object itself. A secret shows as itself once -AsPlainText made it a
 * string, and says what it is while it is a SecureString (rather than System.Security.SecureString).
 */
function column(p: ShapeProperty): Column {
  if (p.kind === 'secret') {
    return { label: p.name, script: `if ($_.${p.name} -is [System.Security.SecureString]) { '(SecureString: -AsPlainText shows it)' } else { $_.${p.name} }` };
  }
  return { label: p.name, property: p.name };
}

/** The columns of a shape's table view: the spec's (`x-ams-table-columns`), else chosen from the schema. */
export function tableColumns(shapes: Map<string, ShapeModel>, shape: ShapeModel): Column[] {
  if (shape.tableColumns) return shape.tableColumns.map((path) => columnFor(shapes, shape, path)!);
  const scalar = shape.properties.filter(isScalar);
  const chosen = new Set([...scalar.filter((p) => p.required), ...scalar.filter((p) => !p.required)].slice(0, MAX_COLUMNS));
  if (chosen.size < 2) {
    // Nothing much to show of its own: show what names each nested object.
    for (const p of shape.properties.filter((q) => (q.kind === 'object' || q.kind === 'objects') && q.shape)) {
      if (chosen.size >= MAX_COLUMNS) break;
      if (namingProperty(shapes.get(p.shape!))) chosen.add(p);
    }
  }
  return shape.properties
    .filter((p) => chosen.has(p))
    .map((p) => (isScalar(p) ? column(p) : columnFor(shapes, shape, `${p.wireName}.${namingProperty(shapes.get(p.shape!))!.wireName}`)!));
}

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

export function emitFormat(module: ModuleModel, headerText: string): string {
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
