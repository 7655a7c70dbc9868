/**
 * Turns input records into the model's input tensors: one batch tensor per model input, rows
 * along dim 0, in the input's datatype. Each row's values for an input come from the field named
 * like the input (an array, nested arrays flattened row-major, or a scalar for one-element inputs),
 * from the fields a map lists for it (concatenated in order: several numeric columns become one
 * vector), or, for a single-input model, from a bare-array JSONL line. A row that does not fit
 * (missing field, wrong element count, a value that is not a number of the input's kind) is
 * refused with a reason that names the field and what was expected; mapping never throws on data.
 *
 * Speed matters (every row of a job passes through here), so values are written straight into the
 * batch's typed array at the row's slot, with no per-element allocation: a refused row's partial
 * writes are simply overwritten by the next row. CSV cells are parsed with Number(). Rows from the
 * CSV and Parquet readers (CellRecords) that map numeric columns onto an FP32/FP64 input are read
 * from the reader's block directly; any row the fast check does not accept takes the general path
 * on its fields object, so what is accepted, and every reason given, stays the same.
 */
import { ARRAY_TYPES, mpError, nestedShape, numberToBf16, numberToHalf, type Datatype, type NumericArray, type Tensor, type TensorSpec } from '../../core/index.js';
import { CellRecord, rowCellsOf, type RowLayout } from './row-cells.js';
import { parseNumber } from './number-text.js';
import type { ErrorRow, InputRecord } from './types.js';

export interface RowMapperOptions {
  /**
   * The specs' first dimension is the batch dimension (default true). False for a model that does
   * not batch: map() then takes one row at a time and the tensor has the spec's own shape.
   */
  batched?: boolean;
}

export interface MappedBatch {
  /** One tensor per model input, in the order of the specs; dim 0 = accepted rows when batched. */
  inputs: Tensor[];
  accepted: InputRecord[];
  rejected: ErrorRow[];
}

const enum Kind {
  Float,
  Half,
  Bf16,
  Int,
  Big,
  Bool,
  Bytes,
}

const KINDS: Record<Datatype, Kind> = {
  FP32: Kind.Float, FP64: Kind.Float, FP16: Kind.Half, BF16: Kind.Bf16,
  INT8: Kind.Int, INT16: Kind.Int, INT32: Kind.Int, UINT8: Kind.Int, UINT16: Kind.Int, UINT32: Kind.Int,
  INT64: Kind.Big, UINT64: Kind.Big, BOOL: Kind.Bool, BYTES: Kind.Bytes,
};

const INT_RANGES: Partial<Record<Datatype, [number, number]>> = {
  INT8: [-128, 127], INT16: [-32768, 32767], INT32: [-2147483648, 2147483647],
  UINT8: [0, 255], UINT16: [0, 65535], UINT32: [0, 4294967295],
};
const BIG_RANGES: Partial<Record<Datatype, [bigint, bigint]>> = {
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
  UINT64: [0n, 2n ** 64n - 1n],
};

const KIND_TEXT: Record<Kind, string> = {
  [Kind.Float]: 'a number', [Kind.Half]: 'a number', [Kind.Bf16]: 'a number', [Kind.Int]: 'an integer',
  [Kind.Big]: 'an integer', [Kind.Bool]: 'a boolean (true/false or 1/0)', [Kind.Bytes]: 'a string',
};

const INTEGER_TEXT = /^\s*[+-]?\d+\s*$/;
const utf8 = new TextEncoder();

function show(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `'${value.slice(0, 39)}…'` : `'${value}'`;
  if (value === null) return 'null';
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return `an ${typeof value}`;
}


/** One model input: where its values come from and the batch storage being filled. */
class InputPlan {
  readonly kind: Kind;
  /** Per-row shape as declared (-1 = dynamic). */
  readonly rowShape: number[];
  readonly fixedCount: number | undefined;
  /** Each mapped field is one FP32/FP64 value: rows of CellRecords may be read from their block. */
  private readonly fromCells: boolean;
  private readonly knownProduct: number;
  private readonly dynamicDims: number;
  private readonly intMin: number;
  private readonly intMax: number;
  private readonly bigMin: bigint;
  private readonly bigMax: bigint;

  /** Column positions of `fields` in the last row layout seen (see row-cells.ts). */
  private layout: RowLayout | undefined;
  private positions: Int32Array | undefined;
  /** Per row of the batch: 1 when prefill() put its values in its slot. */
  private prefilled: Uint8Array | undefined;

  // Batch state.
  private data: NumericArray | Uint8Array[] = new Float32Array(0);
  private capacity = 0;
  private committed = 0;
  /** Shape every row of this batch has (set by its first accepted row when dynamic). */
  private batchShape: number[] | undefined;

  // Row state.
  private start = 0;
  private count = 0;
  private fieldStart = 0;
  private field = '';
  private fieldIsArray = false;
  private rowShapeNow: number[] | undefined;
  problem: string | undefined;

  constructor(
    readonly name: string,
    readonly datatype: Datatype,
    shape: readonly number[],
    readonly fields: readonly string[] | undefined,
  ) {
    this.kind = KINDS[datatype];
    this.rowShape = [...shape];
    this.dynamicDims = shape.filter((d) => d < 0).length;
    this.knownProduct = shape.reduce((p, d) => (d < 0 ? p : p * d), 1);
    this.fixedCount = this.dynamicDims === 0 ? this.knownProduct : undefined;
    this.fromCells = this.kind === Kind.Float && fields !== undefined && this.fixedCount === fields.length;
    [this.intMin, this.intMax] = INT_RANGES[datatype] ?? [0, 0];
    [this.bigMin, this.bigMax] = BIG_RANGES[datatype] ?? [0n, 0n];
  }

  begin(rows: number): void {
    this.capacity = rows * (this.fixedCount ?? Math.max(1, this.knownProduct) * 16);
    this.data = this.allocate(this.capacity);
    this.committed = 0;
    this.batchShape = this.fixedCount === undefined ? undefined : this.rowShape;
  }

  private allocate(length: number): NumericArray | Uint8Array[] {
    if (this.kind === Kind.Bytes) return new Array<Uint8Array>(length);
    return new ARRAY_TYPES[this.datatype as Exclude<Datatype, 'BYTES'>](length);
  }

  /** Makes room for element index `at` (dynamic shapes only; fixed ones are sized exactly). */
  private grow(at: number): void {
    let capacity = Math.max(16, this.capacity * 2);
    while (capacity <= at) capacity *= 2;
    const next = this.allocate(capacity);
    if (Array.isArray(next)) {
      const old = this.data as Uint8Array[];
      for (let i = 0; i < this.committed; i++) next[i] = old[i]!;
    } else {
      (next as Float64Array).set((this.data as Float64Array).subarray(0, this.committed));
    }
    this.data = next;
    this.capacity = capacity;
  }

  private put(value: number | bigint | Uint8Array): void {
    const at = this.start + this.count++;
    // Past a fixed row's end only the count goes on (to report how many values the row had).
    if (at - this.start >= (this.fixedCount ?? Infinity)) return;
    if (at >= this.capacity) this.grow(at);
    (this.data as unknown as Array<number | bigint | Uint8Array>)[at] = value;
  }

  private fail(value: unknown, expected: string): false {
    const where = this.fieldIsArray ? `field '${this.field}' element ${this.count - this.fieldStart}` : `field '${this.field}'`;
    if (value === '') this.problem = `${where} is empty, expected ${expected}`;
    else if (typeof value === 'string' || typeof value === 'number') this.problem = `${where} is ${show(value)}, not ${expected}`;
    else this.problem = `${where} is ${show(value)}, expected ${expected}`;
    return false;
  }

  private number(value: unknown): number {
    if (typeof value === 'number') return value;
    if (typeof value === 'string') return parseNumber(value);
    if (typeof value === 'bigint') return Number(value);
    return NaN;
  }

  /** Converts and stores one element; false (with `problem` set) when it does not fit the kind. */
  private scalar(value: unknown): boolean {
    switch (this.kind) {
      case Kind.Float: {
        const n = typeof value === 'number' ? value : this.number(value);
        if (!Number.isFinite(n)) return this.fail(value, 'a finite number');
        this.put(n);
        return true;
      }
      case Kind.Half:
      case Kind.Bf16: {
        const n = this.number(value);
        if (!Number.isFinite(n)) return this.fail(value, 'a finite number');
        this.put(this.kind === Kind.Half ? numberToHalf(n) : numberToBf16(n));
        return true;
      }
      case Kind.Int: {
        const n = this.number(value);
        if (!Number.isInteger(n)) return this.fail(value, 'an integer');
        if (n < this.intMin || n > this.intMax) return this.fail(value, `an integer in ${this.datatype}'s range ${this.intMin}..${this.intMax}`);
        this.put(n);
        return true;
      }
      case Kind.Big: {
        let n: bigint;
        if (typeof value === 'bigint') n = value;
        else if (typeof value === 'string' && INTEGER_TEXT.test(value)) n = BigInt(value.trim());
        else {
          const x = this.number(value);
          if (!Number.isInteger(x)) return this.fail(value, 'an integer');
          n = BigInt(x);
        }
        if (n < this.bigMin || n > this.bigMax) return this.fail(value, `an integer in ${this.datatype}'s range`);
        this.put(n);
        return true;
      }
      case Kind.Bool: {
        let bit: number;
        if (typeof value === 'boolean') bit = value ? 1 : 0;
        else if (value === 0 || value === 1) bit = value;
        else if (value === 0n || value === 1n) bit = Number(value);
        else if (typeof value === 'string') {
          const text = value.trim().toLowerCase();
          if (text === 'true' || text === '1') bit = 1;
          else if (text === 'false' || text === '0') bit = 0;
          else return this.fail(value, KIND_TEXT[Kind.Bool]);
        } else return this.fail(value, KIND_TEXT[Kind.Bool]);
        this.put(bit);
        return true;
      }
      case Kind.Bytes: {
        if (typeof value === 'string') this.put(utf8.encode(value));
        else if (value instanceof Uint8Array) this.put(value);
        else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') this.put(utf8.encode(String(value)));
        else return this.fail(value, KIND_TEXT[Kind.Bytes]);
        return true;
      }
    }
  }

  /** Flattens (nested) arrays row-major into the row's slot. */
  private walk(value: unknown): boolean {
    if (Array.isArray(value)) {
      if (this.kind === Kind.Float) {
        // The common case, kept tight: an array of finite numbers into FP32/FP64.
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (typeof item === 'number' && Number.isFinite(item)) {
            const at = this.start + this.count++;
            if (at - this.start >= (this.fixedCount ?? Infinity)) continue;
            if (at >= this.capacity) this.grow(at);
            (this.data as Float32Array)[at] = item;
          } else if (!(Array.isArray(item) ? this.walk(item) : this.scalar(item))) {
            return false;
          }
        }
        return true;
      }
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (!(Array.isArray(item) ? this.walk(item) : this.scalar(item))) return false;
      }
      return true;
    }
    // Typed arrays (Parquet list columns may decode to them) flatten like arrays, except that a
    // Uint8Array is one BYTES element.
    if (ArrayBuffer.isView(value) && !(value instanceof DataView) && !(this.kind === Kind.Bytes && value instanceof Uint8Array)) {
      const items = value as unknown as ArrayLike<unknown>;
      for (let i = 0; i < items.length; i++) if (!this.scalar(items[i])) return false;
      return true;
    }
    return this.scalar(value);
  }

  private takeField(label: string, value: unknown): boolean {
    this.field = label;
    this.fieldStart = this.count;
    this.fieldIsArray = Array.isArray(value) || ArrayBuffer.isView(value);
    return this.walk(value);
  }

  private positionsIn(layout: RowLayout): Int32Array {
    if (layout !== this.layout) {
      this.layout = layout;
      this.positions = Int32Array.from(this.fields!, (name) => layout.positions.get(name) ?? -1);
    }
    return this.positions!;
  }

  /**
   * The fast path of extract() for a CellRecord: true when the row's values are in the batch (as
   * extract would have put them); false when the row must go through extract().
   */
  extractCells(record: CellRecord, row: number): boolean {
    if (!this.fromCells) return false;
    this.start = this.committed;
    this.problem = undefined;
    this.rowShapeNow = undefined;
    const count = this.fixedCount!;
    const data = this.data as Float32Array | Float64Array;
    if (this.prefilled?.[row] === 1) {
      // In place at row slot `row`, unless rows before it were refused.
      const slot = row * count;
      if (slot !== this.start) data.copyWithin(this.start, slot, slot + count);
    } else if (!record.readFloats(this.positionsIn(record.layout), data, this.start)) return false;
    this.count = count;
    return true;
  }

  /**
   * Reads the batch's cells a column at a time where its records allow (readFloatRows), each row
   * into its slot r * count, before the rows are taken one by one: a taken row's values then only
   * move when a row before it was refused (slots only ever move down, onto slots already taken).
   */
  prefill(records: readonly InputRecord[]): void {
    this.prefilled = undefined;
    const first = records[0];
    if (!this.fromCells || !(first instanceof CellRecord)) return;
    this.prefilled = first.readFloatRows(records, this.positionsIn(first.layout), this.data as Float32Array | Float64Array, this.fixedCount!);
  }

  /**
   * Reads this input's values for one row into the batch; undefined when they fit, else the reason.
   * `bareArray`: the model has this single input, so a bare-array row may stand for it.
   */
  extract(fields: Record<string, unknown>, bareArray: boolean): string | undefined {
    this.start = this.committed;
    this.count = 0;
    this.problem = undefined;
    this.rowShapeNow = undefined;
    let label: string;
    if (this.fields !== undefined) {
      const cells = rowCellsOf(fields);
      const positions = cells === undefined ? undefined : this.positionsIn(cells.layout);
      const names = this.fields;
      for (let f = 0; f < names.length; f++) {
        let value: unknown;
        if (positions !== undefined) {
          const at = positions[f]!;
          value = at < 0 ? undefined : cells!.values[at];
        } else {
          value = fields[names[f]!];
        }
        if (this.kind === Kind.Float && (typeof value === 'string' || typeof value === 'number')) {
          // The common case, kept tight: one numeric cell (CSV text or a number) per field.
          const n = typeof value === 'number' ? value : parseNumber(value);
          if (Number.isFinite(n)) {
            const at = this.start + this.count++;
            if (at - this.start < (this.fixedCount ?? Infinity)) {
              if (at >= this.capacity) this.grow(at);
              (this.data as Float32Array)[at] = n;
            }
            continue;
          }
        }
        if (value === undefined) return `field '${names[f]}' is missing (mapped to input '${this.name}')`;
        if (!this.takeField(names[f]!, value)) return this.problem;
      }
      if (this.count === this.fixedCount) return undefined;
      label = this.fields.length === 1 ? `field '${this.fields[0]}' has` : `fields ${this.fields.map((f) => `'${f}'`).join(', ')} give`;
    } else {
      let value = fields[this.name];
      let name = this.name;
      if (value === undefined && bareArray && fields['0'] !== undefined) {
        // A bare-array line: its positions are the values, in order (integer keys come first).
        const values = Object.values(fields);
        if (fields[String(values.length - 1)] !== undefined) {
          value = values;
          name = 'the row';
        }
      }
      if (value === undefined) return `field '${this.name}' is missing`;
      if (!this.takeField(name, value)) return this.problem;
      if (this.count === this.fixedCount) return undefined;
      label = name === 'the row' ? 'the row has' : `field '${name}' has`;
      if (this.dynamicDims > 1) this.rowShapeNow = nestedShape(value);
    }
    return this.checkShape(label);
  }

  private checkShape(label: string): string | undefined {
    const count = this.count;
    if (this.fixedCount !== undefined) {
      return count === this.fixedCount ? undefined : `${label} ${count} values, expected ${this.fixedCount}`;
    }
    let shape: number[];
    if (this.dynamicDims === 1) {
      if (count === 0 || count % this.knownProduct !== 0) {
        return `${label} ${count} values, expected a positive multiple of ${this.knownProduct} (shape [${this.rowShape.join(', ')}])`;
      }
      shape = this.rowShape.map((d) => (d < 0 ? count / this.knownProduct : d));
    } else {
      const nested = this.rowShapeNow;
      if (nested === undefined || nested.length !== this.rowShape.length || nested.some((d, i) => this.rowShape[i]! >= 0 && d !== this.rowShape[i])
        || nested.reduce((p, d) => p * d, 1) !== count) {
        return `${label} ${count} values, expected nested arrays of shape [${this.rowShape.join(', ')}]`;
      }
      shape = nested;
    }
    if (this.batchShape !== undefined && shape.some((d, i) => d !== this.batchShape![i])) {
      return `${label} values of shape [${shape.join(', ')}], but this batch's rows have [${this.batchShape.join(', ')}]`;
    }
    this.rowShapeNow = shape;
    return undefined;
  }

  commit(): void {
    if (this.batchShape === undefined) this.batchShape = this.rowShapeNow;
    this.committed += this.count;
  }

  tensor(rows: number, batched: boolean): Tensor {
    const shape = (this.batchShape ?? this.rowShape).map((d) => (d < 0 ? 0 : d));
    const used = this.committed;
    let data = this.data;
    // Hand on storage of exactly the batch's size (it may be transferred to a worker whole).
    if (used !== this.capacity) data = Array.isArray(data) ? data.slice(0, used) : (data.slice(0, used) as NumericArray);
    return { name: this.name, datatype: this.datatype, shape: batched ? [rows, ...shape] : shape, data };
  }
}

export class RowMapper {
  private readonly plans: InputPlan[];
  private readonly batched: boolean;

  constructor(inputs: readonly TensorSpec[], map?: Record<string, string[]>, options: RowMapperOptions = {}) {
    this.batched = options.batched ?? true;
    if (inputs.length === 0) throw mpError('MP_ERR_JOB_INVALID', 'the model has no inputs to map rows to');
    const names = inputs.map((input) => input.name);
    for (const [input, fields] of Object.entries(map ?? {})) {
      if (!names.includes(input)) {
        throw mpError('MP_ERR_JOB_INVALID', `map names '${input}', which is not an input of the model (inputs: ${names.join(', ')})`);
      }
      if (!Array.isArray(fields) || fields.length === 0 || fields.some((f) => typeof f !== 'string' || f === '')) {
        throw mpError('MP_ERR_JOB_INVALID', `map for input '${input}' must list one or more field names`);
      }
    }
    this.plans = inputs.map((input) => {
      if (this.batched && input.shape.length === 0) {
        throw mpError('MP_ERR_JOB_INVALID', `input '${input.name}' has no batch dimension, but the model is mapped as batching`);
      }
      return new InputPlan(input.name, input.datatype, this.batched ? input.shape.slice(1) : input.shape, map?.[input.name]);
    });
  }

  map(records: readonly InputRecord[]): MappedBatch {
    if (!this.batched && records.length > 1) {
      throw mpError('MP_ERR_INTERNAL', `the model does not batch: map one row at a time (got ${records.length})`);
    }
    const plans = this.plans;
    for (const plan of plans) {
      plan.begin(records.length);
      plan.prefill(records);
    }
    const bareArray = plans.length === 1 && plans[0]!.fields === undefined;
    const accepted: InputRecord[] = [];
    const rejected: ErrorRow[] = [];
    for (let row = 0; row < records.length; row++) {
      const record = records[row]!;
      let reason = record.error;
      // A CellRecord always has fields, and asking for them would build them.
      const fields = record instanceof CellRecord ? undefined : record.fields;
      if (reason === undefined && fields === undefined && !(record instanceof CellRecord)) reason = 'row has no fields';
      if (reason === undefined) {
        const cells = record instanceof CellRecord ? record : undefined;
        for (const plan of plans) {
          if (cells !== undefined && plan.extractCells(cells, row)) continue;
          reason = plan.extract((fields ?? record.fields)!, bareArray);
          if (reason !== undefined) break;
        }
        const all = reason !== undefined && plans.length > 1 ? (fields ?? record.fields)! : undefined;
        if (all !== undefined && all['0'] !== undefined && all[plans[0]!.name] === undefined) {
          reason = `row is a bare array, but the model has ${plans.length} inputs (${plans.map((p) => p.name).join(', ')}): give one field per input`;
        }
      }
      if (reason !== undefined) {
        rejected.push({ index: record.index, id: record.id, reason });
        continue;
      }
      for (const plan of plans) plan.commit();
      accepted.push(record);
    }
    return { inputs: plans.map((plan) => plan.tensor(accepted.length, this.batched)), accepted, rejected };
  }
}
