/**
 * One parameter, from a path or query parameter or a body property: its PowerShell name
 * (`x-ams-parameter-name`, `x-ams-file-parameter`), type, pipeline binding (`x-ams-pipeline`,
 * `x-ams-aliases`, `x-ams-value-from-pipeline`, `x-ams-overrides`), position (`x-ams-position`) and
 * the validation attributes that check in PowerShell what the server will.
 */
import type { BuildContext } from './build-context.js';
import type { InputType, ParameterModel } from './model.js';
import { isPlainIdentifier, pascalCase } from './names.js';
import { descriptionOf, flatten, isDate, isSecret, typeOf, type FlatSchema } from './schema.js';

export interface ParameterInput {
  wireName: string;
  in: 'path' | 'query' | 'body';
  schemaNode: unknown;
  extensions: Record<string, unknown>;
  required: boolean;
  description: string;
  pointer: string;
  shouldProcess: boolean;
  defaultName?: string | undefined;
}

export function buildParameter(b: BuildContext, input: ParameterInput): ParameterModel | undefined {
  const flat = flatten(b.doc, input.schemaNode);
  const schema = flat.schema;
  const { nullable } = typeOf(schema);
  const explicitName = input.extensions['x-ams-parameter-name'];
  const fileParameter = input.extensions['x-ams-file-parameter'];
  const name =
    typeof fileParameter === 'string' && fileParameter
      ? fileParameter
      : typeof explicitName === 'string' && explicitName
        ? explicitName
        : (input.defaultName ?? pascalCase(input.wireName));

  let type = inputType(b, flat, input.pointer);
  if (!type) return undefined;
  if (fileParameter !== undefined && (typeof fileParameter !== 'string' || type !== 'string' || input.in !== 'body')) {
    b.problems.push(`${input.pointer}/x-ams-file-parameter: must name the path parameter of a string body property`);
  }
  // A required boolean must be given either way: a switch cannot say false by being left out.
  if (type === 'switch' && input.required) type = 'bool';

  const aliasesRaw = input.extensions['x-ams-aliases'];
  let aliases: string[] = [];
  if (aliasesRaw !== undefined) {
    if (!Array.isArray(aliasesRaw) || !aliasesRaw.every((a) => typeof a === 'string')) {
      b.problems.push(`${input.pointer}/x-ams-aliases: must be a list of names`);
    } else {
      aliases = [...aliasesRaw];
    }
  }
  const eachRaw = input.extensions['x-ams-value-from-pipeline'];
  if (eachRaw !== undefined && (eachRaw !== true || type !== 'string' || input.in === 'path')) {
    b.problems.push(`${input.pointer}/x-ams-value-from-pipeline: only true, on a string query or body field`);
  }
  const valueFromPipeline = eachRaw === true && type === 'string' && input.in !== 'path';
  if (valueFromPipeline) type = 'string[]';
  const pipelineRaw = input.extensions['x-ams-pipeline'];
  if (pipelineRaw !== undefined && typeof pipelineRaw !== 'boolean') b.problems.push(`${input.pointer}/x-ams-pipeline: must be true or false`);
  const identifier = input.wireName === 'id' || /[a-z0-9]Id$/.test(input.wireName);
  const pipeline =
    typeof pipelineRaw === 'boolean'
      ? pipelineRaw
      : input.in === 'path' || aliases.length > 0 || (!input.shouldProcess && identifier && (type === 'string' || type === 'string[]'));

  const model: ParameterModel = {
    name,
    wireName: input.wireName,
    in: input.in,
    type,
    required: input.required,
    mandatoryIn: [],
    nullable: nullable && input.in === 'body',
    pipeline,
    aliases,
    description: input.description || descriptionOf(schema),
    pointer: input.pointer,
    ...(valueFromPipeline ? { valueFromPipeline } : {}),
  };
  const overrides = input.extensions['x-ams-overrides'];
  if (overrides !== undefined) {
    if (Array.isArray(overrides) && overrides.every((o) => typeof o === 'string') && input.in === 'body') model.overrides = overrides;
    else b.problems.push(`${input.pointer}/x-ams-overrides: must list the wire names of other body fields`);
  }
  if (typeof schema.format === 'string') model.format = schema.format;
  if (schema.default !== undefined) model.defaultValue = schema.default;
  if (schema.example !== undefined) model.example = schema.example;
  const position = input.extensions['x-ams-position'];
  if (position !== undefined) {
    if (typeof position === 'number' && Number.isInteger(position) && position >= 0) model.position = position;
    else b.problems.push(`${input.pointer}/x-ams-position: must be a whole number from 0`);
  }
  if (typeof fileParameter === 'string' && fileParameter) {
    model.fromFile = true;
    model.description = `The file whose text is sent as ${input.wireName}. ${model.description}`.trim();
    return isPlainIdentifier(name) ? model : undefined;
  }

  // Validation attributes, where PowerShell can check what the server will.
  const items = type.endsWith('[]') ? flatten(b.doc, schema.items).schema : undefined;
  const enumValues = (items ?? schema).enum;
  const validates = !model.nullable && type !== 'SecureString';
  if (Array.isArray(enumValues) && enumValues.every((v) => typeof v === 'string') && validates) model.validateSet = enumValues;
  if ((type === 'string' || model.valueFromPipeline) && validates && !model.validateSet) {
    const min = schema.minLength;
    const max = schema.maxLength;
    if (typeof min === 'number' || typeof max === 'number') {
      model.validateLength = [typeof min === 'number' ? min : 0, typeof max === 'number' ? max : 2147483647];
    }
    if (typeof schema.pattern === 'string') model.validatePattern = schema.pattern;
  }
  if (type === 'int' && validates) {
    let min = typeof schema.minimum === 'number' ? schema.minimum : undefined;
    let max = typeof schema.maximum === 'number' ? schema.maximum : undefined;
    if (min !== undefined && schema.exclusiveMinimum === true) min += 1;
    if (max !== undefined && schema.exclusiveMaximum === true) max -= 1;
    if (min !== undefined || max !== undefined) model.validateRange = [min ?? -2147483648, max ?? 2147483647];
  }
  if (!model.description.trim()) {
    b.problems.push(`${input.pointer}: ${input.wireName} needs a description: it is the help of the parameter -${name}, and says what a user needs to know to give it`);
  }
  if (!isPlainIdentifier(name)) {
    b.problems.push(`${input.pointer}: "${input.wireName}" gives the parameter name "${name}", which is not a plain PowerShell identifier; set x-ams-parameter-name`);
    return undefined;
  }
  return model;
}

function inputType(b: BuildContext, flat: FlatSchema, pointer: string): InputType | undefined {
  const schema = flat.schema;
  const { type } = typeOf(schema);
  if (isSecret(schema)) {
    if (type !== 'string') {
      b.problems.push(`${pointer}: format password is for strings, not ${type ?? 'untyped'} values`);
      return undefined;
    }
    return 'SecureString';
  }
  switch (type) {
    case 'string':
      return isDate(schema) ? 'datetime' : 'string';
    case 'integer':
      return schema.format === 'int64' ? 'long' : 'int';
    case 'number':
      return 'double';
    case 'boolean':
      // A switch is off unless given: right for booleans that default to false (or have no default).
      return schema.default === true ? 'bool' : 'switch';
    case 'object':
      return 'hashtable';
    case 'array': {
      const items = flatten(b.doc, schema.items);
      const itemType = typeOf(items.schema).type;
      if (isSecret(items.schema)) {
        b.problems.push(`${pointer}: arrays of secrets (format password) are not supported as parameters`);
        return undefined;
      }
      switch (itemType) {
        case 'string':
          return isDate(items.schema) ? 'datetime[]' : 'string[]';
        case 'integer':
          return items.schema.format === 'int64' ? 'long[]' : 'int[]';
        case 'number':
          return 'double[]';
        case 'object':
          return 'hashtable[]';
        default:
          b.problems.push(`${pointer}: arrays of ${itemType ?? 'untyped'} items are not supported as parameters`);
          return undefined;
      }
    }
    default:
      return 'object';
  }
}
