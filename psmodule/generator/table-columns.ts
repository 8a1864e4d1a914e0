/**
 * Table columns: which property of an output shape a wire path names (`deviceName`, `user.displayName`,
 * `access.accessType`), and the columns of each shape's table view. Used by the shape builder to check
 * `x-ams-table-columns`, and by the format and type-data emitters.
 */
import type { ShapeModel, ShapeProperty } from './model.js';

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
