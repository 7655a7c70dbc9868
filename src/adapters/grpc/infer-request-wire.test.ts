import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_REQUEST_LIMITS, isModelportError, type RequestLimits } from '../../core/index.js';
import { checkInferRequestWire, readInferRequest } from './infer-request-wire.js';
import { EncodedInferRequest, INFERENCE_SERVICE, MalformedMessage, packageDefinition, serviceDefinition } from './proto-definitions.js';
import type { ModelInferRequestMessage } from './proto-types.js';

const methods = packageDefinition()[INFERENCE_SERVICE] as unknown as Record<string, { requestSerialize(value: object): Buffer }>;
const encode = (request: object) => methods.ModelInfer!.requestSerialize(request);
const limits: RequestLimits = { ...DEFAULT_REQUEST_LIMITS, maxInputs: 2, maxOutputs: 2, maxTensorElements: 10, maxStringTensorElements: 3 };

function varint(value: number): number[] {
  const bytes: number[] = [];
  for (let v = value; ; v = Math.floor(v / 128)) {
    if (v < 128) return [...bytes, v];
    bytes.push((v % 128) | 128);
  }
}

function tooLarge(bytes: Buffer, pattern: RegExp): void {
  assert.throws(() => checkInferRequestWire(bytes, limits), (error: unknown) => isModelportError(error) && error.code === 'MP_ERR_REQUEST_TOO_LARGE' && pattern.test(error.message));
}

test('a well-formed request within the limits passes, unknown fields and groups included', () => {
  const request = encode({ model_name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: ['1', '2'], contents: { fp32_contents: [1, 2] } }], outputs: [{ name: 'y' }] });
  assert.equal(checkInferRequestWire(request, limits), undefined);
  const withGroups = Buffer.concat([request, Buffer.from([...varint(15 * 8 + 3), ...varint(16 * 8 + 3), ...varint(16 * 8 + 4), ...varint(15 * 8 + 4)])]);
  assert.equal(checkInferRequestWire(withGroups, limits), undefined);
});

test('counts are refused on the wire: inputs, outputs, raw contents, parameters, rank, typed values', () => {
  const inputs = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `x${i}` }));
  tooLarge(encode({ inputs: inputs(3) }), /more than 2 inputs/);
  tooLarge(encode({ outputs: inputs(3) }), /more than 2 outputs/);
  tooLarge(encode({ raw_input_contents: [Buffer.alloc(1), Buffer.alloc(1), Buffer.alloc(1)] }), /more than 2 raw_input_contents entries/);
  const parameters = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`p${i}`, { bool_param: true }]));
  tooLarge(encode({ parameters }), /the request has more than 256 parameters/);
  tooLarge(encode({ outputs: [{ name: 'y', parameters }] }), /requested output 0 has more than 256 parameters/);
  tooLarge(encode({ inputs: [{ name: 'x', shape: new Array(65).fill('1') }] }), /input 0 has a shape of more than 64 dimensions/);
  // Packed and unpacked encodings of the same field add up.
  tooLarge(encode({ inputs: [{ name: 'x', contents: { int64_contents: new Array(11).fill('300') } }] }), /input 0 has more than 10 values in contents.int64_contents/);
  tooLarge(encode({ inputs: [{ name: 'x', contents: { fp64_contents: new Array(11).fill(1.5) } }] }), /contents.fp64_contents/);
  tooLarge(encode({ inputs: [{ name: 'x', contents: { bytes_contents: new Array(4).fill(Buffer.from('a')) } }] }), /more than 3 values in contents.bytes_contents.*maxStringTensorElements/);
  // inputs[0].contents.bool_contents, unpacked: one tagged varint per value.
  const unpacked = Buffer.from([0x2a, 24, 0x2a, 22, ...Array.from({ length: 11 }, () => [0x08, 0x01]).flat()]);
  tooLarge(unpacked, /more than 10 values in contents.bool_contents/);
});

test('bytes that are not protobuf are named, not decoded leniently', () => {
  assert.match(checkInferRequestWire(Buffer.from([0x0a, 0x10, 0x61]), limits)!, /a field of 16 bytes at byte 2 runs past the end of its message/);
  assert.match(checkInferRequestWire(Buffer.from([0x08, 0x80]), limits)!, /a varint is cut off/);
  assert.match(checkInferRequestWire(Buffer.from([0x0f]), limits)!, /wire type 7 .*does not exist/);
  assert.match(checkInferRequestWire(Buffer.from([0x0c]), limits)!, /a group ends at byte \d+ without having started/);
  assert.match(checkInferRequestWire(Buffer.from([0x0b]), limits)!, /a varint is cut off/);
});

test('readInferRequest decodes after the walk; infer methods reach the handler undecoded', () => {
  const definition = serviceDefinition(INFERENCE_SERVICE);
  const encoded = definition.ModelInfer!.requestDeserialize(encode({ model_name: 'm', id: 'a' }));
  assert.ok(encoded instanceof EncodedInferRequest);
  const message: ModelInferRequestMessage = readInferRequest(encoded, limits);
  assert.equal(message.model_name, 'm');
  assert.equal(message.id, 'a');
  assert.ok(definition.ModelStreamInfer!.requestDeserialize(Buffer.alloc(0)) instanceof EncodedInferRequest);
  assert.throws(() => readInferRequest(new EncodedInferRequest(Buffer.from([0x0a, 0x10]), () => ({})), limits), (error: unknown) => error instanceof MalformedMessage);
  assert.ok(definition.ServerLive!.requestDeserialize(Buffer.from([0xff])) instanceof MalformedMessage, 'other methods decode as before');
});
