/**
 * Reads rows of features for `modelport profile` and `modelport drift` from a JSONL file, one
 * record per line, in any of three shapes:
 * - a JSON array of numbers (one row, flattened if nested);
 * - an object of input name → (nested) array, flattened and concatenated in the order of the keys;
 * - a payload-log CloudEvent from `--payload-log` (`data.inputs[].data_base64` with datatype and
 *   shape): every batch item becomes a row, and outputs are read the same way.
 * The file is streamed line by line.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ARRAY_TYPES, isDatatype, type Datatype } from '../core/index.js';

export interface FeatureRows {
  inputNames: string[];
  inputs: number[][];
  outputNames: string[];
  outputs: number[][];
}

interface TensorRecord {
  name: string;
  datatype: string;
  shape: number[];
  data_base64?: string;
}

function flatten(value: unknown, where: string): number[] {
  const flat = Array.isArray(value) ? (value.flat(Infinity) as unknown[]) : [value];
  return flat.map((v) => {
    const n = typeof v === 'boolean' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`${where}: ${JSON.stringify(v)} is not a finite number`);
    return n;
  });
}

/** Rows (one per batch item) of a logged tensor; names `tensor[j]`. */
function tensorRows(tensor: TensorRecord, where: string): { names: string[]; rows: number[][] } {
  if (tensor.data_base64 === undefined) throw new Error(`${where}: tensor '${tensor.name}' was logged as a digest only (over the size limit); its values are not in the log`);
  if (!isDatatype(tensor.datatype) || tensor.datatype === 'BYTES' || tensor.datatype === 'FP16' || tensor.datatype === 'BF16') {
    throw new Error(`${where}: tensor '${tensor.name}' is ${tensor.datatype}; drift profiles take numeric tensors (BOOL, integers, FP32, FP64)`);
  }
  const bytes = Buffer.from(tensor.data_base64, 'base64');
  const Ctor = ARRAY_TYPES[tensor.datatype as Exclude<Datatype, 'BYTES'>];
  const values = Array.from(new Ctor(Uint8Array.from(bytes).buffer) as ArrayLike<number | bigint>, Number);
  const batch = tensor.shape.length > 1 ? tensor.shape[0]! : 1;
  const width = values.length / Math.max(1, batch);
  const names = Array.from({ length: width }, (_, j) => `${tensor.name}[${j}]`);
  return { names, rows: Array.from({ length: batch }, (_, i) => values.slice(i * width, (i + 1) * width)) };
}

function joinColumns(parts: Array<{ names: string[]; rows: number[][] }>): { names: string[]; rows: number[][] } {
  const rows = parts[0]?.rows.map((_, i) => parts.flatMap((p) => p.rows[i] ?? [])) ?? [];
  return { names: parts.flatMap((p) => p.names), rows };
}

export async function readFeatureRows(file: string): Promise<FeatureRows> {
  const result: FeatureRows = { inputNames: [], inputs: [], outputNames: [], outputs: [] };
  let lineNumber = 0;
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    lineNumber += 1;
    if (line.trim() === '') continue;
    const where = `${file}:${lineNumber}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new Error(`${where}: not JSON (${(error as Error).message})`);
    }
    let inputs: { names: string[]; rows: number[][] };
    let outputs: { names: string[]; rows: number[][] } | undefined;
    if (Array.isArray(record)) {
      const row = flatten(record, where);
      inputs = { names: row.map((_, j) => `x[${j}]`), rows: [row] };
    } else if (record !== null && typeof record === 'object' && (record as { specversion?: unknown }).specversion === '1.0') {
      const data = (record as { data: { inputs: TensorRecord[]; outputs?: TensorRecord[]; outcome?: string } }).data;
      if (data.outcome !== undefined && data.outcome !== 'ok') continue;
      inputs = joinColumns(data.inputs.map((t) => tensorRows(t, where)));
      if (data.outputs) outputs = joinColumns(data.outputs.map((t) => tensorRows(t, where)));
    } else if (record !== null && typeof record === 'object') {
      const entries = Object.entries(record as Record<string, unknown>);
      inputs = joinColumns(entries.map(([name, value]) => {
        const row = flatten(value, `${where} '${name}'`);
        return { names: row.length === 1 && !Array.isArray(value) ? [name] : row.map((_, j) => `${name}[${j}]`), rows: [row] };
      }));
    } else {
      throw new Error(`${where}: expected a JSON array, an object of input arrays or a payload-log event`);
    }
    if (result.inputs.length === 0) result.inputNames = inputs.names;
    else if (inputs.names.length !== result.inputNames.length) {
      throw new Error(`${where}: ${inputs.names.length} features, but earlier rows have ${result.inputNames.length}`);
    }
    result.inputs.push(...inputs.rows);
    if (outputs) {
      if (result.outputs.length === 0) result.outputNames = outputs.names;
      result.outputs.push(...outputs.rows);
    }
  }
  return result;
}
