/**
 * The `modelport` command against a real server: models table, infer from JSON and .npy files,
 * and exit codes (0 success, 1 failed operation, 2 wrong command line).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { modelport } from '../fixtures/cli-runner.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';

let server: ServerProcess;
let dir: string;


function npyFloat32(shape: number[], values: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(prefix);
  prefix[6] = 1;
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(values.buffer)]);
}

before(async () => {
  await prepareExamples();
  server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp']);
  dir = mkdtempSync(join(tmpdir(), 'modelport-cli-'));
});
after(async () => {
  await server.stop();
});

test('models prints a table of models, versions and states', async () => {
  const { code, stdout } = await modelport('models', '--url', server.url);
  assert.equal(code, 0);
  assert.match(stdout, /^MODEL\s+VERSION\s+STATE/);
  assert.match(stdout, /mlp\s+1\s+READY/);
});

test('infer from a JSON file (batch dimension added) and from a .npy file', async () => {
  const json = join(dir, 'x.json');
  writeFileSync(json, JSON.stringify(new Array(256).fill(0.5)));
  const fromJson = await modelport('infer', 'mlp', '--input', `input=${json}`, '--url', server.url);
  assert.equal(fromJson.code, 0, fromJson.stderr);
  const answer = JSON.parse(fromJson.stdout) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> };
  assert.deepEqual(answer.outputs[0]!.shape, [1, 10]);

  const npy = join(dir, 'x.npy');
  writeFileSync(npy, npyFloat32([2, 256], new Float32Array(512).fill(0.5)));
  const fromNpy = await modelport('infer', 'mlp', '--input', `input=${npy}`, '--url', server.url);
  assert.equal(fromNpy.code, 0, fromNpy.stderr);
  const batch = JSON.parse(fromNpy.stdout) as typeof answer;
  assert.deepEqual(batch.outputs[0]!.shape, [2, 10]);
  assert.deepEqual(batch.outputs[0]!.data.slice(0, 10), answer.outputs[0]!.data);
});

test('--grpc: models and infer over the gRPC endpoint answer as over REST', async () => {
  const table = await modelport('models', '--grpc', server.grpcAddress);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /mlp\s+1\s+READY/);
  const json = join(dir, 'g.json');
  writeFileSync(json, JSON.stringify(new Array(256).fill(0.25)));
  const overGrpc = await modelport('infer', 'mlp', '--input', `input=${json}`, '--grpc', server.grpcAddress);
  assert.equal(overGrpc.code, 0, overGrpc.stderr);
  const overRest = await modelport('infer', 'mlp', '--input', `input=${json}`, '--url', server.url);
  assert.deepEqual(JSON.parse(overGrpc.stdout), JSON.parse(overRest.stdout));
  const unknown = await modelport('infer', 'nope', '--input', `input=${json}`, '--grpc', server.grpcAddress);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /ModelMetadata .* failed with INVALID_ARGUMENT: Request for unknown model: 'nope'/);
});

test('exit codes: 1 when the operation fails, 2 when the command line is wrong', async () => {
  const wrongShape = join(dir, 'bad.json');
  writeFileSync(wrongShape, JSON.stringify([1, 2, 3]));
  const failed = await modelport('infer', 'mlp', '--input', `input=${wrongShape}`, '--url', server.url);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /Expected \[-1,256\], got \[1,3\]/);
  const unreachable = await modelport('models', '--url', 'http://127.0.0.1:1');
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach/);
  const usage = await modelport('infer', 'mlp');
  assert.equal(usage.code, 2);
  const badFlag = await modelport('serve', '--http-port', 'eighty');
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /httpPort/);
  const help = await modelport('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /serve/);
});
