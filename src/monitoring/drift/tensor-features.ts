/**
 * How tensors become drift features, shared by the offline commands (`modelport profile`/`drift`
 * over JSONL files) and the live monitor, so a profile built from a payload log lines up with the
 * tensors of live requests:
 * - a tensor of rank > 1 has one row per item of its first (batch) dimension; a rank-0 or rank-1
 *   tensor is a single row;
 * - each row is flattened, and element j of tensor `t` is the feature `t[j]`;
 * - only numeric datatypes take part (BOOL, integers, FP32, FP64): BYTES has no order, and FP16 or
 *   BF16 would need decoding the offline reader does not do either.
 *
 * The live side resolves a profile's feature names against a request's tensors once per distinct
 * request shape (a `FeatureLayout`) and then copies rows with typed-array `set`, so the request
 * path does no per-element work in JavaScript for float and small-integer inputs.
 */
import type { Datatype, Tensor } from '../../core/index.js';

/** Datatypes whose values a profile can hold. */
export function isProfiledDatatype(datatype: Datatype): boolean {
  return datatype !== 'BYTES' && datatype !== 'FP16' && datatype !== 'BF16';
}

/** Rows (batch items) and values per row of a tensor of this shape. */
export function tensorRowShape(shape: readonly number[]): { rows: number; width: number } {
  let count = 1;
  for (const dim of shape) count *= dim;
  const rows = shape.length > 1 ? shape[0]! : 1;
  return { rows, width: rows === 0 ? 0 : count / rows };
}

/** `name[0]` … `name[width−1]`. */
export function featureNames(tensorName: string, width: number): string[] {
  return Array.from({ length: width }, (_, j) => `${tensorName}[${j}]`);
}

/** The rows of one decoded numeric tensor, as the offline commands read them. */
export function tensorFeatureRows(tensor: Tensor): { names: string[]; rows: number[][] } {
  if (!isProfiledDatatype(tensor.datatype) || Array.isArray(tensor.data)) {
    throw new Error(`tensor '${tensor.name}' is ${tensor.datatype}; drift profiles take numeric tensors (BOOL, integers, FP32, FP64)`);
  }
  const { rows, width } = tensorRowShape(tensor.shape);
  const data = tensor.data as ArrayLike<number | bigint>;
  const out: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const row = new Array<number>(width);
    for (let j = 0; j < width; j++) row[j] = Number(data[i * width + j]!);
    out.push(row);
  }
  return { names: featureNames(tensor.name, width), rows: out };
}

/** A run of features that come from consecutive elements of one tensor's row. */
interface Segment {
  /** Index of the tensor in the request's list. */
  tensor: number;
  /** Offset of the run inside that tensor's row. */
  from: number;
  /** Index of the run's first feature. */
  to: number;
  length: number;
}

/** Where each of a profile's features is found in requests whose tensors look like `names`/`widths`. */
export interface FeatureLayout {
  readonly features: number;
  readonly names: readonly string[];
  readonly widths: readonly number[];
  readonly segments: readonly Segment[];
  /** True when features were matched by position because the names did not match. */
  readonly positional: boolean;
}

const INDEXED = /^(.*)\[(\d+)\]$/;

function segmentsOf(places: ReadonlyArray<{ tensor: number; offset: number }>): Segment[] {
  const segments: Segment[] = [];
  places.forEach((place, feature) => {
    const last = segments[segments.length - 1];
    if (last && last.tensor === place.tensor && last.from + last.length === place.offset && last.to + last.length === feature) last.length += 1;
    else segments.push({ tensor: place.tensor, from: place.offset, to: feature, length: 1 });
  });
  return segments;
}

/**
 * Maps `featureNames` (a profile's inputs or outputs) onto `tensors`: by name first (`t[j]` is
 * element j of tensor `t`'s row; a bare `t` is a one-element row), else by position over the
 * numeric tensors in request order, which is how profiles built from plain JSON arrays (`x[j]`)
 * line up. Returns the reason when neither fits.
 */
export function resolveLayout(featureNames: readonly string[], tensors: readonly Tensor[]): FeatureLayout | string {
  const names = tensors.map((t) => t.name);
  const widths = tensors.map((t) => tensorRowShape(t.shape).width);
  const byName = new Map(names.map((name, i) => [name, i]));
  const places: Array<{ tensor: number; offset: number }> = [];
  for (const feature of featureNames) {
    const match = INDEXED.exec(feature);
    const tensorName = match ? match[1]! : feature;
    const offset = match ? Number(match[2]) : 0;
    const index = byName.get(tensorName);
    if (index === undefined || !isProfiledDatatype(tensors[index]!.datatype) || offset >= widths[index]! || (!match && widths[index] !== 1)) break;
    places.push({ tensor: index, offset });
  }
  if (places.length === featureNames.length) {
    return { features: featureNames.length, names, widths, segments: segmentsOf(places), positional: false };
  }
  places.length = 0;
  tensors.forEach((tensor, index) => {
    if (!isProfiledDatatype(tensor.datatype)) return;
    for (let offset = 0; offset < widths[index]!; offset++) places.push({ tensor: index, offset });
  });
  if (places.length === featureNames.length) {
    return { features: featureNames.length, names, widths, segments: segmentsOf(places), positional: true };
  }
  const given = tensors.map((t, i) => `${t.name} (${t.datatype}, ${widths[i]} per row)`).join(', ') || 'none';
  return `the reference has ${featureNames.length} features (${featureNames.slice(0, 3).join(', ')}${featureNames.length > 3 ? ', …' : ''}); the request's tensors are ${given}`;
}

/** Whether `layout` was resolved for tensors with these names and row widths (in this order). */
export function layoutFits(layout: FeatureLayout, tensors: readonly Tensor[]): boolean {
  if (tensors.length !== layout.names.length) return false;
  for (let i = 0; i < tensors.length; i++) {
    const tensor = tensors[i]!;
    if (tensor.name !== layout.names[i] || tensorRowShape(tensor.shape).width !== layout.widths[i]) return false;
  }
  return true;
}

/** Rows in a request for this layout: every tensor it reads must agree, else −1. */
export function layoutRows(layout: FeatureLayout, tensors: readonly Tensor[]): number {
  let rows = -1;
  for (const segment of layout.segments) {
    const tensor = tensors[segment.tensor]!;
    if (Array.isArray(tensor.data)) return -1;
    const r = tensorRowShape(tensor.shape).rows;
    if (rows === -1) rows = r;
    else if (r !== rows) return -1;
  }
  return rows;
}

/**
 * Copies rows `first … first+count−1` of the request into `target`, one row of `layout.features`
 * values each, starting at row `targetRow`. Typed-array `set` converts float and integer elements;
 * 64-bit integers (BigInt) are converted one by one.
 */
export function copyRows(layout: FeatureLayout, tensors: readonly Tensor[], first: number, count: number, target: Float64Array, targetRow: number): void {
  const features = layout.features;
  for (const segment of layout.segments) {
    const data = tensors[segment.tensor]!.data as Exclude<Tensor['data'], Uint8Array[]>;
    const width = layout.widths[segment.tensor]!;
    const big = data instanceof BigInt64Array || data instanceof BigUint64Array;
    for (let r = 0; r < count; r++) {
      const source = (first + r) * width + segment.from;
      const destination = (targetRow + r) * features + segment.to;
      if (!big) target.set((data as Exclude<typeof data, BigInt64Array | BigUint64Array>).subarray(source, source + segment.length), destination);
      else for (let k = 0; k < segment.length; k++) target[destination + k] = Number(data[source + k]!);
    }
  }
}
