/**
 * Where each file of the module goes, and in which order the root module loads the scripts: shared
 * by the emitters that write the files and the manifest and root module that list them.
 */
import { SESSION_CMDLETS, type ModuleModel } from './model.js';

export const MODULE_NAME = 'AccessManager';

/** Private scripts written by hand, in load order. */
export const PRIVATE_TEMPLATES = ['Private/Invoke-AmsRequest.ps1', 'Private/AmsHttp.ps1', 'Private/AmsErrorRecords.ps1', 'Private/EntraSignIn.ps1', 'Private/ConvertTo-AmsOutput.ps1', 'Private/AmsFiles.ps1', 'Private/AmsCompleters.ps1'];

/** The generated table of output shapes ConvertTo-AmsOutput reads. */
export const TYPES_SCRIPT = 'Private/AmsShapes.ps1';

/** The script of a public function: a session cmdlet's template or a generated cmdlet. */
export function publicScript(name: string): string {
  return `Public/${name}.ps1`;
}

/** Every function the module exports: the session cmdlets, then one per operation in document order. */
export function exportedFunctions(module: ModuleModel): string[] {
  return [...SESSION_CMDLETS, ...module.cmdlets.map((c) => c.name)];
}

/** The scripts the root module dot-sources, in order: the shapes, the private helpers, then the public scripts. */
export function scriptsInLoadOrder(module: ModuleModel): string[] {
  return [TYPES_SCRIPT, ...PRIVATE_TEMPLATES, ...exportedFunctions(module).map(publicScript).sort()];
}
