/**
 * Tensor datatypes of the V2 inference protocol, and how each one is stored in memory.
 * Every layer names datatypes with these protocol strings ("FP32", "BYTES"…); the Triton
 * configuration form ("TYPE_FP32", "TYPE_STRING") is converted here and nowhere else.
 */

export const DATATYPES = [
  'BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64',
  'INT8', 'INT16', 'INT32', 'INT64',
  'FP16', 'BF16', 'FP32', 'FP64', 'BYTES',
] as const;

export type Datatype = (typeof DATATYPES)[number];

export type NumericArray =
  | Uint8Array | Uint16Array | Uint32Array | BigUint64Array
  | Int8Array | Int16Array | Int32Array | BigInt64Array
  | Float32Array | Float64Array;

/**
 * Element storage per datatype. BOOL is one byte per element (0/1); FP16 and BF16 keep their raw
 * 16-bit patterns in a Uint16Array because JavaScript has no half-precision array on Node 20.
 * BYTES has no fixed size and is stored as one Uint8Array per element.
 */
export const ELEMENT_BYTES: Record<Exclude<Datatype, 'BYTES'>, number> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8,
  INT8: 1, INT16: 2, INT32: 4, INT64: 8,
  FP16: 2, BF16: 2, FP32: 4, FP64: 8,
};

type ArrayCtor = {
  new (length: number): NumericArray;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): NumericArray;
  readonly BYTES_PER_ELEMENT: number;
};

export const ARRAY_TYPES: Record<Exclude<Datatype, 'BYTES'>, ArrayCtor> = {
  BOOL: Uint8Array, UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array,
  INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, INT64: BigInt64Array,
  FP16: Uint16Array, BF16: Uint16Array, FP32: Float32Array, FP64: Float64Array,
} as unknown as Record<Exclude<Datatype, 'BYTES'>, ArrayCtor>;

export function isDatatype(value: unknown): value is Datatype {
  return typeof value === 'string' && (DATATYPES as readonly string[]).includes(value);
}

/** True for datatypes whose elements are BigInt in memory. */
export function isBigIntDatatype(datatype: Datatype): datatype is 'INT64' | 'UINT64' {
  return datatype === 'INT64' || datatype === 'UINT64';
}

/** Triton configuration name → protocol datatype ("TYPE_STRING" → "BYTES"). */
export function datatypeFromConfig(configType: string): Datatype | undefined {
  if (configType === 'TYPE_STRING') return 'BYTES';
  if (!configType.startsWith('TYPE_')) return undefined;
  const name = configType.slice(5);
  return isDatatype(name) && name !== 'BYTES' ? name : undefined;
}

/** Protocol datatype → Triton configuration name ("BYTES" → "TYPE_STRING"). */
export function datatypeToConfig(datatype: Datatype): string {
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
}
