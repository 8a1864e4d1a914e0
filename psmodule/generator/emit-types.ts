/**
 * The private table of output shapes ConvertTo-AmsOutput reads: for each type the module emits, its
 * PSTypeNames and, per JSON property, the PascalCase name and how to convert the value (dates to
 * [datetime], secrets to SecureString, nested objects to their own shape).
 */
import type { Emitter } from './emitter.js';
import { TYPES_SCRIPT } from './layout.js';
import type { ModuleModel, ShapeModel } from './model.js';
import { psArray, psString } from './powershell.js';

function shapeLiteral(shape: ShapeModel): string[] {
  const lines = [`    ${psString(shape.key)} = @{`, `        TypeNames = ${psArray(shape.typeNames)}`];
  if (shape.properties.length === 0) {
    lines.push('        Properties = @()');
  } else {
    lines.push('        Properties = @(');
    for (const p of shape.properties) {
      const fields = [`Wire = ${psString(p.wireName)}`, `Name = ${psString(p.name)}`, `Kind = ${psString(p.kind)}`];
      if (p.parentWire) fields.push(`Parent = ${psString(p.parentWire)}`);
      if (p.shape) fields.push(`Shape = ${psString(p.shape)}`);
      lines.push(`            @{ ${fields.join('; ')} }`);
    }
    lines.push('        )');
  }
  lines.push('    }');
  return lines;
}

function shapesScript(module: ModuleModel, header: string): string {
  const shapes = [...module.shapes.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const lines = [
    header,
    '# How ConvertTo-AmsOutput turns each JSON object the API answers into the object the module emits.',
    '# Kind: value (as it comes), datetime, secret (SecureString unless -AsPlainText), object / objects',
    '# (nested, converted with Shape), datetimes / secrets / values (arrays of those). Parent: the',
    '# property is read from that nested object (flattened into this one).',
    '$script:AmsShapes = @{',
    ...shapes.flatMap(shapeLiteral),
    '}',
  ];
  return lines.join('\n') + '\n';
}

export const emitTypes: Emitter = (module, { header }) => [{ path: TYPES_SCRIPT, content: shapesScript(module, header) }];
