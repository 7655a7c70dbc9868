/**
 * Whether a shadow version's answer matches the live one, for the shadow summary: same outputs
 * (names, datatypes, shapes) and the same values, floats within a tolerance since a retrained or
 * re-exported model rarely reproduces the last bit, everything else exactly.
 */
import { bf16ToNumber, halfToNumber, isBytesData, type NumericArray, type Tensor } from '../core/index.js';

export interface Tolerance {
  /** Relative tolerance, against the live value's magnitude. */
  rtol: number;
  /** Absolute tolerance, for values near zero. */
  atol: number;
}

export const DEFAULT_TOLERANCE: Readonly<Tolerance> = Object.freeze({ rtol: 1e-3, atol: 1e-5 });

/**
 * True when every live output has a shadow output of the same name, datatype and shape whose values
 * agree: floats (FP16/BF16/FP32/FP64) when |shadow − live| ≤ atol + rtol·|live| (the live answer is
 * the reference, as in numpy.isclose; equal infinities agree, NaN never does), integers and BYTES
 * exactly, BOOL by truth value.
 */
export function outputsAgree(live: readonly Tensor[], shadow: readonly Tensor[], tolerance: Tolerance = DEFAULT_TOLERANCE): boolean {
  if (live.length !== shadow.length) return false;
  const byName = new Map(shadow.map((tensor) => [tensor.name, tensor]));
  const liveNames = new Set(live.map((tensor) => tensor.name));
  if (byName.size !== shadow.length || liveNames.size !== live.length) {
    // Duplicate names (not expected from a model) cannot be paired by name: pair them by position.
    return live.every((tensor, index) => tensor.name === shadow[index]!.name && tensorsAgree(tensor, shadow[index]!, tolerance));
  }
  for (const tensor of live) {
    const other = byName.get(tensor.name);
    if (!other || !tensorsAgree(tensor, other, tolerance)) return false;
  }
  return true;
}

function tensorsAgree(live: Tensor, shadow: Tensor, tolerance: Tolerance): boolean {
  if (live.datatype !== shadow.datatype) return false;
  if (live.shape.length !== shadow.shape.length) return false;
  for (let i = 0; i < live.shape.length; i++) if (live.shape[i] !== shadow.shape[i]) return false;

  const a = live.data;
  const b = shadow.data;
  if (isBytesData(a) || isBytesData(b)) {
    if (!isBytesData(a) || !isBytesData(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!bytesEqual(a[i]!, b[i]!)) return false;
    return true;
  }
  if (a.length !== b.length) return false;
  switch (live.datatype) {
    case 'FP32':
    case 'FP64':
      return floatsAgree(a as Float32Array | Float64Array, b as Float32Array | Float64Array, (x) => x, tolerance);
    case 'FP16':
      return floatsAgree(a as Uint16Array, b as Uint16Array, halfToNumber, tolerance);
    case 'BF16':
      return floatsAgree(a as Uint16Array, b as Uint16Array, bf16ToNumber, tolerance);
    case 'BOOL':
      for (let i = 0; i < a.length; i++) if ((a[i] !== 0) !== (b[i] !== 0)) return false;
      return true;
    default:
      // Integers, BigInt ones included: exact.
      return exactlyEqual(a, b);
  }
}

function floatsAgree<T extends Float32Array | Float64Array | Uint16Array>(live: T, shadow: T, decode: (raw: number) => number, tolerance: Tolerance): boolean {
  const { rtol, atol } = tolerance;
  for (let i = 0; i < live.length; i++) {
    const reference = decode(live[i]!);
    const value = decode(shadow[i]!);
    if (value === reference) continue; // equal infinities agree; NaN !== NaN falls through
    // An infinite reference would make the tolerance infinite too: unequal non-finite values disagree.
    if (!Number.isFinite(reference) || !(Math.abs(value - reference) <= atol + rtol * Math.abs(reference))) return false;
  }
  return true;
}

function exactlyEqual(a: NumericArray, b: NumericArray): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
