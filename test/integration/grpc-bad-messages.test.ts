/**
 * Hostile gRPC messages against a real `modelport serve` process: raw bytes sent through
 * @grpc/grpc-js with identity serialisers (invalid protobuf, truncated varints, wrong wire types,
 * lengths past the end, deep and unknown fields, messages over the size limit, counts over the
 * request limits checked on the wire), and well-formed requests that are wrong (unknown model,
 * shape and datatype mismatches, raw contents of the wrong count or size, huge and negative
 * shapes, BYTES with bad length prefixes, empty tensors), on ModelInfer and on ModelStreamInfer,
 * whose stream must answer each with error_message and stay usable. Every answer is
 * INVALID_ARGUMENT, RESOURCE_EXHAUSTED or NOT_FOUND, never INTERNAL, and the server still serves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { credentials, Client, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { buildConformanceRepository } from '../../scripts/conformance-repository.js';
import { grpcDefinition, rawBytes } from '../fixtures/grpc-client.js';
import { startServer, type ServerProcess } from '../fixtures/server-process.js';
import { randomFloats } from '../fixtures/v2-client.js';

const BODY_LIMIT = 4 * 1024 * 1024;
const MAX_ELEMENTS = 100_000;
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const STREAM = '/inference.GRPCInferenceService/ModelStreamInfer';

const methods = grpcDefinition['inference.GRPCInferenceService'] as unknown as Record<
  string,
  { requestSerialize(value: object): Buffer; responseDeserialize(bytes: Buffer): unknown }
>;
const encodeRequest = (request: object): Buffer => methods.ModelInfer!.requestSerialize(request);

let server: ServerProcess;
let client: Client;
let repository: string;

before(async () => {
  repository = mkdtempSync(join(tmpdir(), 'modelport-grpc-bad-'));
  await buildConformanceRepository(repository);
  server = await startServer([
    '--model-repository', repository,
    '--registry', 'off',
    '--http-body-limit', String(BODY_LIMIT),
    '--max-tensor-elements', String(MAX_ELEMENTS),
  ]);
  client = new Client(server.grpcAddress, credentials.createInsecure());
});
after(async () => {
  client.close();
  assert.equal(await server.stop(), 0, 'the server exits cleanly after the suite');
  rmSync(repository, { recursive: true, force: true });
});

// --- protobuf by hand

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return bytes;
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const delimited = (field: number, payload: Uint8Array | number[]) => Buffer.from([...tag(field, 2), ...varint(payload.length), ...payload]);

// --- calls with identity serialisers

function callRaw(bytes: Buffer): Promise<ServiceError | null> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(INFER, (b: Buffer) => b, (b: Buffer) => b, bytes, new Metadata(), { deadline: Date.now() + 60_000 }, (error) => resolve(error));
  });
}

async function expectStatus(bytes: Buffer, code: Status, pattern: RegExp): Promise<void> {
  const error = await callRaw(bytes);
  assert.ok(error, 'the call failed');
  assert.equal(error.code, code, `${Status[error.code]}: ${error.details}`);
  assert.match(error.details, pattern);
}

function mlp(batch = 1, extra: object = {}) {
  return {
    model_name: 'mlp',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [batch, 256] }],
    raw_input_contents: [rawBytes(randomFloats(256 * batch, 7))],
    ...extra,
  };
}

async function assertStillServing(): Promise<void> {
  const error = await callRaw(encodeRequest(mlp()));
  assert.equal(error, null, error?.details);
}

describe('bytes that are not a well-formed ModelInferRequest are INVALID_ARGUMENT', () => {
  const cases: Array<[string, Buffer]> = [
    ['random bytes', Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x13])],
    ['a truncated varint', Buffer.from([0x08, 0x80, 0x80])],
    ['a truncated tag', Buffer.from([0x80])],
    ['a length-delimited field longer than the message', Buffer.from([...tag(1, 2), ...varint(1000), 0x61])],
    ['an input longer than the message', Buffer.from([...tag(5, 2), ...varint(50), ...tag(1, 2), 1, 0x61])],
    ['a wire type that does not exist', Buffer.from([...tag(1, 7), 0x01])],
    ['a group end without a start', Buffer.from([...tag(9, 4)])],
    ['100 000 nested unknown groups', Buffer.from(Array.from({ length: 100_000 }, () => tag(15, 3)).flat())],
  ];
  for (const [name, bytes] of cases) {
    test(name, async () => {
      await expectStatus(bytes, Status.INVALID_ARGUMENT, /not a valid protobuf message/);
    });
  }

  test('a string field sent with the wire type of an integer', async () => {
    // model_name (a string) sent as a varint: whatever protobufjs makes of it, never INTERNAL.
    const error = await callRaw(Buffer.from([...tag(1, 0), 0x05]));
    assert.ok(error);
    assert.equal(error.code, Status.INVALID_ARGUMENT, `${Status[error.code]}: ${error.details}`);
  });

  test('unknown fields, deeply nested inside a length-delimited one, are skipped and the request served', async () => {
    let nested: Buffer = Buffer.from([...tag(1, 0), 1]);
    for (let i = 0; i < 2000; i++) nested = delimited(20, nested);
    const request = Buffer.concat([encodeRequest(mlp()), nested, Buffer.from([...tag(99, 0), 42, ...tag(98, 5), 1, 2, 3, 4])]);
    assert.equal(await callRaw(request), null);
  });
});

describe('size and count limits are RESOURCE_EXHAUSTED, checked on the wire before decoding', () => {
  test('a message over --http-body-limit', async () => {
    await expectStatus(Buffer.concat([encodeRequest(mlp()), delimited(50, Buffer.alloc(BODY_LIMIT))]), Status.RESOURCE_EXHAUSTED, /larger than max/);
  });

  test('100 000 requested outputs', async () => {
    const outputs = Array.from({ length: 100_000 }, () => ({ name: 'output' }));
    await expectStatus(encodeRequest(mlp(1, { outputs })), Status.RESOURCE_EXHAUSTED, /more than 256 outputs; the limit is 256 outputs per request \(maxRequestOutputs, --max-request-outputs\)/);
  });

  test('a million empty outputs entries (2 MB that would decode into hundreds of MB)', async () => {
    const bytes = Buffer.alloc(2_000_000);
    for (let i = 0; i < bytes.length; i += 2) bytes[i] = 0x32;
    await expectStatus(bytes, Status.RESOURCE_EXHAUSTED, /maxRequestOutputs/);
  });

  test('more inputs, or raw_input_contents entries, than maxRequestInputs', async () => {
    const inputs = Array.from({ length: 300 }, (_, i) => ({ name: `x${i}`, datatype: 'FP32', shape: [1] }));
    await expectStatus(encodeRequest({ model_name: 'mlp', inputs }), Status.RESOURCE_EXHAUSTED, /more than 256 inputs/);
    await expectStatus(encodeRequest({ model_name: 'mlp', raw_input_contents: Array.from({ length: 300 }, () => Buffer.alloc(0)) }), Status.RESOURCE_EXHAUSTED, /more than 256 raw_input_contents/);
  });

  test('typed contents with more values than --max-tensor-elements', async () => {
    const values = Array.from({ length: MAX_ELEMENTS + 1 }, () => '1');
    const request = { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'INT64', shape: [1, 256], contents: { int64_contents: values } }] };
    await expectStatus(encodeRequest(request), Status.RESOURCE_EXHAUSTED, /more than 100000 values in contents.int64_contents.*maxTensorElements/);
  });

  test('a shape whose dimension passes the element limit, before any data is read', async () => {
    await expectStatus(
      encodeRequest({ model_name: 'vad', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MAX_ELEMENTS + 1] }], raw_input_contents: [Buffer.alloc(4)] }),
      Status.RESOURCE_EXHAUSTED,
      /input 'input' has a dimension of 100001.*the limit is 100000 elements per tensor \(maxTensorElements/,
    );
  });

  test('a shape of more than 64 dimensions', async () => {
    const shape = Array.from({ length: 65 }, () => 1);
    await expectStatus(encodeRequest({ model_name: 'vad', inputs: [{ name: 'input', datatype: 'FP32', shape }], raw_input_contents: [Buffer.alloc(4)] }), Status.RESOURCE_EXHAUSTED, /more than 64 dimensions/);
  });

  test('more than 256 parameters', async () => {
    const parameters = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`p${i}`, { bool_param: true }]));
    await expectStatus(encodeRequest(mlp(1, { parameters })), Status.RESOURCE_EXHAUSTED, /more than 256 parameters/);
  });
});

describe('well-formed but wrong requests', () => {
  const cases: Array<[string, object, Status, RegExp]> = [
    ['an unknown model (INVALID_ARGUMENT, as Triton)', { ...mlp(), model_name: 'nope' }, Status.INVALID_ARGUMENT, /Request for unknown model: 'nope' is not found/],
    ['an unknown version', { ...mlp(), model_version: '9' }, Status.NOT_FOUND, /version 9 is not found/],
    ['an unknown alias', { ...mlp(), model_version: 'production' }, Status.NOT_FOUND, /./],
    ['a version that is not > 0', { ...mlp(), model_version: '0' }, Status.INVALID_ARGUMENT, /version should be an integral value > 0/],
    ['a shape that does not match the model', { ...mlp(), inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 255] }], raw_input_contents: [Buffer.alloc(1020)] }, Status.INVALID_ARGUMENT, /Expected \[-1,256\]/],
    ['a datatype that does not match the model', { ...mlp(), inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 256] }], raw_input_contents: [Buffer.alloc(2048)] }, Status.INVALID_ARGUMENT, /datatype FP64, expected FP32/],
    ['a batch above max_batch_size', mlp(129), Status.INVALID_ARGUMENT, /batch-size must be <= 128/],
    ['more raw_input_contents than inputs', { ...mlp(), raw_input_contents: [Buffer.alloc(1024), Buffer.alloc(4)] }, Status.INVALID_ARGUMENT, /raw_input_contents has 2 entries but the request has 1 inputs/],
    ['raw contents of the wrong size', { ...mlp(), raw_input_contents: [Buffer.alloc(1023)] }, Status.INVALID_ARGUMENT, /needs 1024 bytes, got 1023/],
    ['a negative dimension', { ...mlp(), inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 256] }] }, Status.INVALID_ARGUMENT, /shape dimension 0 is -1/],
    ['a dimension beyond int64', { ...mlp(), inputs: [{ name: 'input', datatype: 'FP32', shape: ['9223372036854775807', '9223372036854775807'] }] }, Status.INVALID_ARGUMENT, /expected a non-negative integer/],
    [
      'dimensions whose product overflows',
      { ...mlp(), inputs: [{ name: 'input', datatype: 'FP32', shape: [65536, 65536, 65536, 65536] }] },
      Status.RESOURCE_EXHAUSTED,
      /maxTensorElements/,
    ],
    [
      'empty tensors where the model leaves dimensions variable (they abort onnxruntime)',
      {
        model_name: 'vad',
        inputs: [
          { name: 'input', datatype: 'FP32', shape: [0, 512] },
          { name: 'state', datatype: 'FP32', shape: [2, 0, 128] },
          { name: 'sr', datatype: 'INT64', shape: [] },
        ],
        raw_input_contents: [Buffer.alloc(0), Buffer.alloc(0), rawBytes(BigInt64Array.of(16000n))],
      },
      Status.INVALID_ARGUMENT,
      /is empty: shape \[0,512\] has 0 in dimension 0/,
    ],
  ];
  for (const [name, request, code, pattern] of cases) {
    test(name, async () => {
      await expectStatus(encodeRequest(request), code, pattern);
    });
  }

  test('BYTES elements with bad length prefixes', async () => {
    const bytesInput = (raw: Buffer) => ({ model_name: 'datatypes', inputs: [{ name: 'in_bytes', datatype: 'BYTES', shape: [1, 2] }], raw_input_contents: [raw] });
    const prefix = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n >>> 0);
      return b;
    };
    await expectStatus(encodeRequest(bytesInput(Buffer.concat([prefix(0xffffffff), Buffer.from('ab')]))), Status.INVALID_ARGUMENT, /declares 4294967295 bytes but only 2 remain/);
    await expectStatus(encodeRequest(bytesInput(Buffer.from([1, 0]))), Status.INVALID_ARGUMENT, /truncated 4-byte length prefix/);
    await expectStatus(encodeRequest(bytesInput(Buffer.concat([prefix(1), Buffer.from('a')]))), Status.INVALID_ARGUMENT, /expected 2 elements/);
    await expectStatus(encodeRequest(bytesInput(Buffer.concat([prefix(0), prefix(0), prefix(0)]))), Status.INVALID_ARGUMENT, /more than the 2 elements/);
  });

  test('after all of that, a good request still succeeds', async () => {
    await assertStillServing();
  });
});

describe('ModelStreamInfer answers bad messages on the stream and stays usable', () => {
  test('garbage, a request over the limits and a wrong request, then a good one', async () => {
    const deserialize = methods.ModelStreamInfer!.responseDeserialize;
    const stream = client.makeBidiStreamRequest(STREAM, (b: Buffer) => b, (b: Buffer) => deserialize(b), new Metadata());
    const answers: Array<{ error_message: string; infer_response: { id: string; model_name: string } | null }> = [];
    const ended = new Promise<ServiceError | null>((resolve) => {
      stream.on('data', (answer: (typeof answers)[number]) => answers.push(answer));
      stream.on('error', (error: ServiceError) => resolve(error));
      stream.on('end', () => resolve(null));
    });
    // One at a time, so the answers come in order.
    const send = async (bytes: Buffer) => {
      const before = answers.length;
      stream.write(bytes);
      while (answers.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      return answers.at(-1)!;
    };
    assert.match((await send(Buffer.from([0x08, 0x80, 0x80]))).error_message, /not a valid protobuf message/);
    assert.match((await send(encodeRequest(mlp(1, { outputs: Array.from({ length: 1000 }, () => ({ name: 'output' })) })))).error_message, /maxRequestOutputs/);
    const wrong = await send(encodeRequest({ ...mlp(), id: 'wrong', raw_input_contents: [Buffer.alloc(3)] }));
    assert.match(wrong.error_message, /needs 1024 bytes, got 3/);
    assert.equal(wrong.infer_response?.id, 'wrong', 'the failed request is named by its id');
    const good = await send(encodeRequest({ ...mlp(), id: 'good' }));
    assert.equal(good.error_message, '');
    assert.equal(good.infer_response?.id, 'good');
    assert.equal(good.infer_response?.model_name, 'mlp');
    stream.end();
    assert.equal(await ended, null, 'the stream ends cleanly');
  });
});
