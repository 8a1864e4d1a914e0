/**
 * AccessManager.types.ps1xml: every output type that has a name of its own (a display name, a name, a
 * description) shows it when PowerShell turns the object into text. A rule's principals then list as
 * `{Helpdesk, AMS-Admins}` in Format-List, not as `{@{id=…; displayName=…}}`.
 */
import { XML_GENERATED_NOTE, type Emitter } from './emitter.js';
import { MODULE_NAME } from './layout.js';
import type { ModuleModel } from './model.js';
import { xmlText } from './powershell.js';
import { namingProperty } from './table-columns.js';

function typeDataFile(module: ModuleModel, headerText: string): string {
  const shapes = [...module.shapes.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const types = shapes.flatMap((shape) => {
    const naming = namingProperty(shape);
    if (!naming || !/name$|^description$/i.test(naming.wireName)) return [];
    return [
      '  <Type>',
      `    <Name>${xmlText(shape.typeNames[0]!)}</Name>`,
      '    <Members>',
      '      <ScriptMethod>',
      '        <Name>ToString</Name>',
      `        <Script>[string]$this.${xmlText(naming.name)}</Script>`,
      '      </ScriptMethod>',
      '    </Members>',
      '  </Type>',
    ];
  });
  return ['<?xml version="1.0" encoding="utf-8"?>', `<!-- ${xmlText(headerText).replace(/--/g, '- -')} -->`, '<Types>', ...types, '</Types>', ''].join('\n');
}

export const emitTypeData: Emitter = (module) => [{ path: `${MODULE_NAME}.types.ps1xml`, content: typeDataFile(module, XML_GENERATED_NOTE) }];
