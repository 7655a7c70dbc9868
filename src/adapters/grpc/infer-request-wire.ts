/**
 * Reads a ModelInferRequest from its protobuf bytes in two steps: first a walk over the wire
 * format that counts what the message would decode into (inputs, requested outputs, raw contents,
 * parameters, shape dimensions, typed contents values) and refuses it against the request limits;
 * only then the protobuf decode. protobufjs turns each two-byte empty entry into an object, so
 * 2 MB of empty `outputs` entries decode into about 235 MB of heap and 2.5 s of the event loop,
 * and a 64 MB message (the default limit) into more memory than the process has. The walk
 * allocates nothing and stops at the first count over its limit.
 *
 * A message the walk cannot follow (truncated, a length past its end, a wire type that does not
 * exist) is refused as malformed: protobufjs would read some of those leniently, e.g. a string
 * whose length runs past the end of the message as the bytes that are there.
 */
import { mpError, MAX_PARAMETERS, MAX_TENSOR_RANK, type RequestLimits } from '../../core/index.js';
import { MalformedMessage, type EncodedInferRequest } from './proto-definitions.js';
import type { ModelInferRequestMessage } from './proto-types.js';

/** The decoded request, or a throw: MP_ERR_REQUEST_TOO_LARGE over a limit, MalformedMessage if not protobuf. */
export function readInferRequest(encoded: EncodedInferRequest, limits: RequestLimits): ModelInferRequestMessage {
  const unreadable = checkInferRequestWire(encoded.bytes, limits);
  if (unreadable !== undefined) throw new MalformedMessage(unreadable);
  try {
    return encoded.decode(encoded.bytes) as ModelInferRequestMessage;
  } catch (error) {
    throw new MalformedMessage((error as Error).message);
  }
}

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const GROUP_START = 3;
const GROUP_END = 4;
const FIXED32 = 5;

/** Thrown inside the walk when the bytes are not well-formed protobuf. */
class Unreadable extends Error {}

/** A cursor over one message's bytes [position, end). */
class Reader {
  constructor(
    readonly bytes: Uint8Array,
    public position: number,
    readonly end: number,
  ) {}

  get done(): boolean {
    return this.position >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) throw new Unreadable(`a varint is cut off at byte ${this.position}`);
      const byte = this.bytes[this.position++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw new Unreadable(`a varint longer than 10 bytes at byte ${this.position}`);
  }

  /** The sub-message or bytes of a length-delimited field. */
  delimited(): Reader {
    const length = this.varint();
    const start = this.position;
    if (length > this.end - start) throw new Unreadable(`a field of ${length} bytes at byte ${start} runs past the end of its message (${this.end - start} bytes left)`);
    this.position = start + length;
    return new Reader(this.bytes, start, start + length);
  }

  /** Skips a field's value; groups (deprecated, never in this schema) are skipped without recursion. */
  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varint();
        return;
      case FIXED64:
        this.advance(8);
        return;
      case LENGTH_DELIMITED:
        this.delimited();
        return;
      case FIXED32:
        this.advance(4);
        return;
      case GROUP_START: {
        let depth = 1;
        while (depth > 0) {
          const type = this.varint() & 7;
          if (type === GROUP_START) depth += 1;
          else if (type === GROUP_END) depth -= 1;
          else this.skip(type);
        }
        return;
      }
      case GROUP_END:
        throw new Unreadable(`a group ends at byte ${this.position} without having started`);
      default:
        throw new Unreadable(`wire type ${wireType} (before byte ${this.position}) does not exist`);
    }
  }

  advance(bytes: number): void {
    if (bytes > this.end - this.position) throw new Unreadable(`a ${bytes}-byte value at byte ${this.position} runs past the end of its message`);
    this.position += bytes;
  }

  /**
   * Values in a packed field (varints end on a byte below 0x80), counted up to `atMost` + 1: past
   * the limit the exact number no longer matters.
   */
  packedVarints(atMost: number): number {
    if (this.end - this.position <= atMost) {
      let count = 0;
      for (let i = this.position; i < this.end; i++) if (this.bytes[i]! < 0x80) count += 1;
      return count;
    }
    let count = 0;
    for (let i = this.position; i < this.end && count <= atMost; i++) if (this.bytes[i]! < 0x80) count += 1;
    return count;
  }
}

/** InferTensorContents fields by number: name and how one value is encoded. */
const CONTENTS: Record<number, { field: string; wire: number }> = {
  1: { field: 'bool_contents', wire: VARINT },
  2: { field: 'int_contents', wire: VARINT },
  3: { field: 'int64_contents', wire: VARINT },
  4: { field: 'uint_contents', wire: VARINT },
  5: { field: 'uint64_contents', wire: VARINT },
  6: { field: 'fp32_contents', wire: FIXED32 },
  7: { field: 'fp64_contents', wire: FIXED64 },
  8: { field: 'bytes_contents', wire: LENGTH_DELIMITED },
};

/**
 * Throws MP_ERR_REQUEST_TOO_LARGE at the first count over its limit; returns why the bytes are not
 * protobuf, or undefined when they are.
 */
export function checkInferRequestWire(bytes: Uint8Array, limits: RequestLimits): string | undefined {
  try {
    walkRequest(new Reader(bytes, 0, bytes.byteLength), limits);
    return undefined;
  } catch (error) {
    if (error instanceof Unreadable) return error.message;
    throw error;
  }
}

function walkRequest(reader: Reader, limits: RequestLimits): void {
  let inputs = 0;
  let outputs = 0;
  let raw = 0;
  let parameters = 0;
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire !== LENGTH_DELIMITED || field < 4 || field > 7) {
      reader.skip(wire);
      continue;
    }
    const value = reader.delimited();
    switch (field) {
      case 4:
        parameters = countParameter(parameters, 'the request');
        break;
      case 5:
        if (++inputs > limits.maxInputs) throw tooMany(`the request has more than ${limits.maxInputs} inputs`, limits.maxInputs, 'inputs per request', 'maxRequestInputs, --max-request-inputs');
        walkInput(value, inputs - 1, limits);
        break;
      case 6:
        if (++outputs > limits.maxOutputs) throw tooMany(`the request names more than ${limits.maxOutputs} outputs`, limits.maxOutputs, 'outputs per request', 'maxRequestOutputs, --max-request-outputs');
        walkOutput(value, outputs - 1);
        break;
      case 7:
        if (++raw > limits.maxInputs) throw tooMany(`the request has more than ${limits.maxInputs} raw_input_contents entries`, limits.maxInputs, 'inputs per request', 'maxRequestInputs, --max-request-inputs');
        break;
    }
  }
}

function walkInput(reader: Reader, index: number, limits: RequestLimits): void {
  let dims = 0;
  let parameters = 0;
  const what = `input ${index}`;
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 3 && wire === LENGTH_DELIMITED) dims += reader.delimited().packedVarints(MAX_TENSOR_RANK - dims);
    else if (field === 3 && wire === VARINT) {
      reader.varint();
      dims += 1;
    } else if (field === 4 && wire === LENGTH_DELIMITED) {
      reader.delimited();
      parameters = countParameter(parameters, what);
    } else if (field === 5 && wire === LENGTH_DELIMITED) walkContents(reader.delimited(), what, limits);
    else reader.skip(wire);
    if (dims > MAX_TENSOR_RANK) throw mpError('MP_ERR_REQUEST_TOO_LARGE', `${what} has a shape of more than ${MAX_TENSOR_RANK} dimensions; the limit is ${MAX_TENSOR_RANK}`);
  }
}

function walkOutput(reader: Reader, index: number): void {
  let parameters = 0;
  while (!reader.done) {
    const tag = reader.varint();
    const wire = tag & 7;
    if (Math.floor(tag / 8) === 2 && wire === LENGTH_DELIMITED) {
      reader.delimited();
      parameters = countParameter(parameters, `requested output ${index}`);
    } else reader.skip(wire);
  }
}

function walkContents(reader: Reader, what: string, limits: RequestLimits): void {
  const counts = new Map<number, number>();
  while (!reader.done) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    const spec = CONTENTS[field];
    if (spec === undefined) {
      reader.skip(wire);
      continue;
    }
    const strings = field === 8;
    const limit = strings ? limits.maxStringTensorElements : limits.maxTensorElements;
    const before = counts.get(field) ?? 0;
    let values: number;
    if (wire === spec.wire) {
      reader.skip(wire);
      values = 1;
    } else if (wire === LENGTH_DELIMITED) {
      // Packed: a run of varints, or of 4- or 8-byte values.
      const packed = reader.delimited();
      const length = packed.end - packed.position;
      values = spec.wire === VARINT ? packed.packedVarints(limit - before) : Math.floor(length / (spec.wire === FIXED32 ? 4 : 8));
    } else {
      reader.skip(wire);
      continue;
    }
    const count = before + values;
    counts.set(field, count);
    if (count > limit) {
      throw tooMany(
        `${what} has more than ${limit} values in contents.${spec.field}`,
        limit,
        strings ? 'elements per BYTES tensor' : 'elements per tensor',
        strings ? 'maxStringTensorElements, --max-string-tensor-elements' : 'maxTensorElements, --max-tensor-elements',
      );
    }
  }
}

function countParameter(count: number, owner: string): number {
  if (count + 1 > MAX_PARAMETERS) throw mpError('MP_ERR_REQUEST_TOO_LARGE', `${owner} has more than ${MAX_PARAMETERS} parameters; the limit is ${MAX_PARAMETERS}`);
  return count + 1;
}

function tooMany(what: string, limit: number, unit: string, setting: string) {
  return mpError('MP_ERR_REQUEST_TOO_LARGE', `${what}; the limit is ${limit} ${unit} (${setting})`);
}
