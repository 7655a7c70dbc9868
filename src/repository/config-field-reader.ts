/**
 * Typed, path-aware reading of one parsed model configuration document. Every check fails with
 * MP_ERR_MODEL_CONFIG and a message that names the model, the file, the field by its full path
 * ('dynamic_batching.default_queue_policy.max_queue_size') and what was expected, so a user can fix
 * the file from the message alone. Fields Modelport does not act on are reported through the
 * logger instead of failing, because configurations are often copied from Triton as they are.
 */
import { mpError, type Logger, type ModelportError } from '../core/index.js';

/** Longest rendering of a wrong value inside a message; configs can hold large arrays. */
const SHOWN_VALUE_CHARS = 60;
const INTEGER_TEXT = /^-?[0-9]+$/;

export type ConfigObject = Record<string, unknown>;

export class ConfigFieldReader {
  constructor(
    readonly model: string,
    /** What the document is called in messages: "config.json", "the load request's config". */
    readonly source: string,
    readonly logger: Logger,
  ) {}

  /** An error about the document as a whole or about several fields at once. */
  error(message: string): ModelportError {
    return mpError('MP_ERR_MODEL_CONFIG', `model '${this.model}': ${this.source}: ${message}`);
  }

  /** A field holding a value of the wrong type or range. */
  invalid(path: string, expected: string, got: unknown): ModelportError {
    return this.error(`'${path}' must be ${expected}, got ${showValue(got)}`);
  }

  warn(path: string, message: string): void {
    this.logger.warn({ model: this.model, source: this.source, field: path }, `model '${this.model}': ${this.source}: '${path}' ${message}`);
  }

  object(value: unknown, path: string): ConfigObject {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw this.invalid(path, 'an object', value);
    return value as ConfigObject;
  }

  list(value: unknown, path: string): unknown[] {
    if (!Array.isArray(value)) throw this.invalid(path, 'a list', value);
    return value;
  }

  string(value: unknown, path: string): string {
    if (typeof value !== 'string') throw this.invalid(path, 'a string', value);
    return value;
  }

  boolean(value: unknown, path: string): boolean {
    if (typeof value !== 'boolean') throw this.invalid(path, 'true or false', value);
    return value;
  }

  /**
   * An integer of at least `min`. Decimal strings are accepted because protobuf's JSON form writes
   * 64-bit integers as strings and Triton reads configs that way.
   */
  integer(value: unknown, path: string, min: number, expected = describeMin(min)): number {
    let number: number | undefined;
    if (typeof value === 'number') number = value;
    else if (typeof value === 'bigint') number = Number(value);
    else if (typeof value === 'string' && INTEGER_TEXT.test(value.trim())) number = Number(value.trim());
    if (number === undefined || !Number.isSafeInteger(number) || number < min) throw this.invalid(path, expected, value);
    return number;
  }

  integerList(value: unknown, path: string, min: number, expected?: string): number[] {
    return this.list(value, path).map((item, i) => this.integer(item, `${path}[${i}]`, min, expected));
  }

  /**
   * Warns about keys that are neither read nor known: a typo such as "max_batchsize" would
   * otherwise pass unnoticed and the default would silently apply.
   */
  unknownKeys(object: ConfigObject, path: string, known: readonly string[]): void {
    for (const key of Object.keys(object)) {
      if (!known.includes(key)) this.warn(join(path, key), 'is not a known configuration field and is ignored');
    }
  }

  /**
   * Warns about a Triton field Modelport accepts but does not act on, unless it holds its
   * default (false, "", 0, empty list or object), as Triton's own /config output does.
   */
  ignored(object: ConfigObject, path: string, key: string, why: string): void {
    const value = object[key];
    if (value === undefined || isDefaultValue(value)) return;
    this.warn(join(path, key), `is ignored: ${why}`);
  }

  /** Fails on a Triton field whose non-default value would change behaviour Modelport does not have. */
  unsupported(object: ConfigObject, path: string, key: string, why: string): void {
    const value = object[key];
    if (value === undefined || isDefaultValue(value)) return;
    throw this.error(`'${join(path, key)}' is not supported: ${why}`);
  }
}

export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function describeMin(min: number): string {
  if (min === 0) return 'a non-negative integer';
  return `an integer >= ${min}`;
}

function isDefaultValue(value: unknown): boolean {
  if (value === null || value === false || value === '' || value === 0 || value === '0') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value as ConfigObject).every(isDefaultValue);
  return false;
}

/** A wrong value as the user wrote it, short enough for a log line. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = typeof value === 'bigint' ? value.toString() : (JSON.stringify(value) ?? String(value));
  } catch {
    // A BigInt inside, or nesting deep enough to overflow the stack (String() would recurse too).
    text = Array.isArray(value) ? 'a list' : typeof value === 'object' && value !== null ? 'an object' : String(value);
  }
  return text.length > SHOWN_VALUE_CHARS ? `${text.slice(0, SHOWN_VALUE_CHARS - 1)}…` : text;
}
