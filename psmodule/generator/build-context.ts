/**
 * What every builder of the model is handed: the document, the problems and warnings found so far
 * (each with the JSON pointer of its node: generation fails with all problems at once), and the
 * output shapes registered so far.
 */
import type { OpenApiDocument } from '../../openapi/contract.js';
import type { ShapeModel } from './model.js';

/** JSON pointer escaping (RFC 6901). */
export function pointerOf(...parts: string[]): string {
  return '#/' + parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
}

export interface BuildContext {
  doc: OpenApiDocument;
  problems: string[];
  warnings: string[];
  shapes: Map<string, ShapeModel>;
}
