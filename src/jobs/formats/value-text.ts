/**
 * Output values as text, shared by the JSONL and CSV writers so both print a value the same way:
 * integers and BigInts exactly (digits, no exponent), floats as JavaScript's shortest repr of the
 * stored value (an FP32 output prints its float32's exact value widened to a double, e.g.
 * 0.10000000149011612, which is deterministic and reads back to the same float32), FP16/BF16
 * decoded from the raw 16-bit patterns core keeps them in. JSON has no NaN or infinities: they
 * print as null there, and as NaN/Infinity/-Infinity in CSV.
 */
import type { Datatype } from '../../core/index.js';
import { bf16ToNumber, halfToNumber } from '../../core/index.js';
import type { OutputValue } from './types.js';

export function isFloatType(datatype: Datatype): boolean {
  return datatype === 'FP32' || datatype === 'FP64' || datatype === 'FP16' || datatype === 'BF16';
}

/**
 * One element as a number, boolean, bigint or string, FP16/BF16 decoded when they come as the
 * Uint16Array core stores them in (plain numbers are taken as values already).
 */
export function elementAt(output: OutputValue, i: number): number | bigint | boolean | string {
  const value = output.values[i]!;
  if (output.values instanceof Uint16Array) {
    if (output.datatype === 'FP16') return halfToNumber(value as number);
    if (output.datatype === 'BF16') return bf16ToNumber(value as number);
  }
  return value;
}

/** RFC 4180 cell: quoted when it holds a comma, quote, CR or LF, or starts/ends with a space. */
export function csvCell(text: string): string {
  if (text === '') return text;
  if (/[",\r\n]/.test(text) || text.charCodeAt(0) === 0x20 || text.charCodeAt(text.length - 1) === 0x20) {
    return `"${text.replace(/"/g, '""')}"`;
  }
  return text;
}

/** The output's elements as comma-separated JSON values (json) or CSV cells. */
export function joinValues(output: OutputValue, style: 'json' | 'csv'): string {
  const { datatype, values } = output;
  const n = values.length;
  let text = '';
  if (datatype === 'BYTES') {
    for (let i = 0; i < n; i++) {
      const cell = String(values[i]);
      text += (i === 0 ? '' : ',') + (style === 'json' ? JSON.stringify(cell) : csvCell(cell));
    }
  } else if (datatype === 'BOOL') {
    for (let i = 0; i < n; i++) text += (i === 0 ? '' : ',') + (values[i] ? 'true' : 'false');
  } else if (isFloatType(datatype)) {
    for (let i = 0; i < n; i++) {
      const value = Number(elementAt(output, i));
      const cell = Number.isFinite(value) || style === 'csv' ? String(value) : 'null';
      text += (i === 0 ? '' : ',') + cell;
    }
  } else {
    // Integers: String() of a number or a BigInt is exact and never uses an exponent below 1e21.
    for (let i = 0; i < n; i++) text += (i === 0 ? '' : ',') + String(values[i]);
  }
  return text;
}
