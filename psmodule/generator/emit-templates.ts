/**
 * The scripts written by hand (psmodule/generator/templates): the session cmdlets (Connect-AmsServer,
 * Disconnect-AmsServer, Get-AmsConnection) and the private helpers, each behind the generated header.
 */
import type { Emitter } from './emitter.js';
import { PRIVATE_TEMPLATES, publicScript } from './layout.js';
import { SESSION_CMDLETS } from './model.js';

export const emitTemplates: Emitter = (_module, { header, template }) =>
  [...SESSION_CMDLETS.map(publicScript), ...PRIVATE_TEMPLATES].map((path) => ({ path, content: `${header}\n${template(path)}` }));
