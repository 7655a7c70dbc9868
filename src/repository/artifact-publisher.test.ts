/**
 * Tests of ArtifactPublisher in temporary repository roots: staging with digests and size limits,
 * refusal of bad names before any byte is written, of malformed or mismatched digests and of files
 * that are not models, atomic commits that refuse existing versions, retiring versions, concurrent
 * uploads, and one pass through the real OnnxRuntime so the seam sees a genuine ONNX file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { mpError, type ModelSignature } from '../core/index.js';
import { OnnxRuntime } from '../runtime/index.js';
import { buildMlpModel, type MlpSpec } from '../../scripts/onnx-builder.js';
import { ArtifactPublisher, fileDigest, type StagedArtifact } from './artifact-publisher.js';

const SMALL_MLP: MlpSpec = { inputSize: 16, hiddenSizes: [32], outputSize: 4, seed: 7 };
const MODEL_BYTES = buildMlpModel(SMALL_MLP);
const OTHER_MODEL_BYTES = buildMlpModel({ ...SMALL_MLP, seed: 8 });
/** The fake runtime accepts files that open like a real model built by onnx-builder. */
const ONNX_PREFIX = MODEL_BYTES.subarray(0, 16);
const FAKE_SIGNATURE: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
  outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 4] }],
};

const fakeRuntime = {
  inspected: [] as string[],
  async inspect(modelPath: string): Promise<ModelSignature> {
    this.inspected.push(modelPath);
    const bytes = await readFile(modelPath);
    if (bytes.length < ONNX_PREFIX.length || !ONNX_PREFIX.every((b, i) => bytes[i] === b)) {
      throw mpError('MP_ERR_MODEL_LOAD', `'${modelPath}' is not a valid ONNX model: protobuf parsing failed`);
    }
    return FAKE_SIGNATURE;
  },
};

let root: string;
let publisher: ArtifactPublisher;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'modelport-publisher-'));
  publisher = new ArtifactPublisher({ root, runtime: fakeRuntime });
  fakeRuntime.inspected.length = 0;
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A body in chunks of `chunkSize`, recording how many chunks were pulled from it. */
function body(bytes: Uint8Array, chunkSize = 1024): Readable & { pulled: number } {
  let offset = 0;
  const stream = new Readable({
    read() {
      if (offset >= bytes.length) {
        this.push(null);
        return;
      }
      stream.pulled++;
      this.push(Buffer.from(bytes.subarray(offset, offset + chunkSize)));
      offset += chunkSize;
    },
  }) as Readable & { pulled: number };
  stream.pulled = 0;
  return stream;
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...includes: string[]): Promise<Error> {
  let caught: Error | undefined;
  await assert.rejects(promise, (error: Error & { code?: string }) => {
    caught = error;
    assert.equal(error.code, code, error.message);
    for (const text of includes) assert.ok(error.message.includes(text), `'${error.message}' should mention '${text}'`);
    return true;
  });
  return caught!;
}

async function uploadsContent(): Promise<string[]> {
  return readdir(join(root, '.modelport', 'uploads'));
}

async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

describe('stage and commit', () => {
  it('stores the file with its sha256 and leaves nothing behind', async () => {
    const staged = await publisher.stage('mlp', body(MODEL_BYTES), { expectedDigest: sha256(MODEL_BYTES) });
    assert.equal(staged.model, 'mlp');
    assert.equal(staged.digest, sha256(MODEL_BYTES));
    assert.equal(staged.size, MODEL_BYTES.length);
    assert.deepEqual(staged.signature, FAKE_SIGNATURE);
    assert.ok(staged.tempPath.startsWith(join(root, '.modelport', 'uploads') + '/'), staged.tempPath);
    assert.deepEqual(fakeRuntime.inspected, [staged.tempPath]);

    const finalPath = await publisher.commit(staged, 1);
    assert.equal(finalPath, join(root, 'mlp', '1', 'model.onnx'));
    assert.deepEqual(new Uint8Array(await readFile(finalPath)), MODEL_BYTES);
    // A plain repository layout: nothing but the version folder and the model file.
    assert.deepEqual(await readdir(join(root, 'mlp')), ['1']);
    assert.deepEqual(await readdir(join(root, 'mlp', '1')), ['model.onnx']);
    assert.deepEqual(await uploadsContent(), []);
    assert.deepEqual(await fileDigest(finalPath), { digest: sha256(MODEL_BYTES), size: MODEL_BYTES.length });
  });

  it('accepts a digest in upper case and no digest at all', async () => {
    const upper = `sha256:${sha256(MODEL_BYTES).slice('sha256:'.length).toUpperCase()}`;
    const a = await publisher.stage('mlp', body(MODEL_BYTES), { expectedDigest: upper });
    const b = await publisher.stage('mlp', body(MODEL_BYTES), {});
    assert.equal(a.digest, sha256(MODEL_BYTES));
    assert.equal(b.digest, sha256(MODEL_BYTES));
    await publisher.discard(a);
    await publisher.discard(b);
  });

  it('uses the configured model file name', async () => {
    publisher = new ArtifactPublisher({ root, runtime: fakeRuntime, modelFilename: 'net.onnx' });
    const staged = await publisher.stage('m', body(MODEL_BYTES), {});
    assert.equal(await publisher.commit(staged, 3), join(root, 'm', '3', 'net.onnx'));
  });

  it('refuses a digest that differs, naming both, and removes the upload', async () => {
    const wrong = sha256(OTHER_MODEL_BYTES);
    await rejectsWith(publisher.stage('mlp', body(MODEL_BYTES), { expectedDigest: wrong }), 'MP_ERR_UPLOAD_DIGEST', wrong, sha256(MODEL_BYTES), "'mlp'");
    assert.deepEqual(await uploadsContent(), []);
    assert.deepEqual(fakeRuntime.inspected, []);
  });

  for (const malformed of ['md5:' + 'a'.repeat(64), 'sha256:' + 'a'.repeat(63), 'a'.repeat(64), 'sha256:' + 'g'.repeat(64), 'sha256:' + 'a'.repeat(64) + ' ']) {
    it(`refuses the malformed digest ${JSON.stringify(malformed)} before reading the body`, async () => {
      const upload = body(MODEL_BYTES);
      await rejectsWith(publisher.stage('mlp', upload, { expectedDigest: malformed }), 'MP_ERR_UPLOAD_DIGEST', 'sha256:', '64 hexadecimal');
      assert.equal(upload.pulled, 0);
      assert.equal(await pathExists(join(root, '.modelport')), false);
    });
  }

  it('aborts an upload over the limit and removes what was written', async () => {
    publisher = new ArtifactPublisher({ root, runtime: fakeRuntime, maxBytes: 4096 });
    const big = new Uint8Array(1024 * 1024).fill(7);
    const upload = body(big, 1024);
    await rejectsWith(publisher.stage('mlp', upload, {}), 'MP_ERR_UPLOAD_TOO_LARGE', "upload of model 'mlp' exceeds the limit of 4096 bytes");
    assert.ok(upload.destroyed, 'the body is destroyed');
    assert.ok(upload.pulled < 64, `stopped reading early (pulled ${upload.pulled} chunks)`);
    assert.deepEqual(await uploadsContent(), []);
  });

  it('accepts an upload of exactly maxBytes', async () => {
    publisher = new ArtifactPublisher({ root, runtime: fakeRuntime, maxBytes: MODEL_BYTES.length });
    const staged = await publisher.stage('mlp', body(MODEL_BYTES), {});
    assert.equal(staged.size, MODEL_BYTES.length);
  });

  it('refuses a file that is not a model, with the runtime reason and without the temporary path', async () => {
    const error = await rejectsWith(
      publisher.stage('mlp', body(new TextEncoder().encode('definitely not onnx')), {}),
      'MP_ERR_UPLOAD_INVALID_MODEL',
      "upload of model 'mlp'",
      'protobuf parsing failed',
    );
    assert.ok(!error.message.includes('.modelport'), error.message);
    assert.deepEqual(await uploadsContent(), []);
  });

  it('refuses an empty upload', async () => {
    await rejectsWith(publisher.stage('mlp', body(new Uint8Array(0)), {}), 'MP_ERR_UPLOAD_INVALID_MODEL', 'empty');
    assert.deepEqual(await uploadsContent(), []);
    assert.deepEqual(fakeRuntime.inspected, []);
  });

  it('reports an interrupted body and removes the partial file', async () => {
    let sent = 0;
    const upload = new Readable({
      read() {
        if (sent++ < 3) this.push(Buffer.from(MODEL_BYTES.subarray(0, 100)));
        else this.destroy(new Error('client went away'));
      },
    });
    await rejectsWith(publisher.stage('mlp', upload, {}), 'MP_ERR_REQUEST_CANCELLED', 'client went away', '300 bytes');
    assert.deepEqual(await uploadsContent(), []);
  });

  for (const name of ['../x', 'a/b', '.hidden', '', '.', '..', 'a\\b', 'a\0b', '/abs', 'x'.repeat(129), 'sp ace']) {
    it(`refuses the model name ${JSON.stringify(name)} before writing anything`, async () => {
      const upload = body(MODEL_BYTES);
      await rejectsWith(publisher.stage(name, upload, {}), 'MP_ERR_REGISTRY_NAME', 'model name', "no '/'");
      assert.equal(upload.pulled, 0);
      assert.deepEqual(await readdir(root), []);
    });
  }

  it('accepts names at the edge of the rule', async () => {
    for (const name of ['_x', 'a.b-c_d', '9', 'x'.repeat(128)]) {
      const staged = await publisher.stage(name, body(MODEL_BYTES), {});
      assert.equal(await publisher.commit(staged, 1), join(root, name, '1', 'model.onnx'));
    }
  });
});

describe('commit', () => {
  it('refuses an existing version folder and keeps the staged file for another try', async () => {
    await mkdir(join(root, 'mlp', '1'), { recursive: true });
    await writeFile(join(root, 'mlp', '1', 'model.onnx'), OTHER_MODEL_BYTES);
    await mkdir(join(root, 'mlp', '2'));
    const staged = await publisher.stage('mlp', body(MODEL_BYTES), {});

    await rejectsWith(publisher.commit(staged, 1), 'MP_ERR_REGISTRY_CONFLICT', "version 1 of model 'mlp' already exists");
    // An empty folder is an existing version too: nothing is silently replaced.
    await rejectsWith(publisher.commit(staged, 2), 'MP_ERR_REGISTRY_CONFLICT', 'version 2');
    assert.deepEqual(new Uint8Array(await readFile(join(root, 'mlp', '1', 'model.onnx'))), OTHER_MODEL_BYTES);
    assert.deepEqual(new Uint8Array(await readFile(staged.tempPath)), MODEL_BYTES);
    assert.deepEqual((await readdir(join(root, 'mlp'))).sort(), ['1', '2']);

    assert.equal(await publisher.commit(staged, 3), join(root, 'mlp', '3', 'model.onnx'));
    assert.deepEqual((await readdir(join(root, 'mlp'))).sort(), ['1', '2', '3']);
    assert.deepEqual(await uploadsContent(), []);
  });

  it('lets exactly one of two commits of the same version win', async () => {
    const a = await publisher.stage('mlp', body(MODEL_BYTES), {});
    const b = await publisher.stage('mlp', body(OTHER_MODEL_BYTES), {});
    const results = await Promise.allSettled([publisher.commit(a, 5), publisher.commit(b, 5)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.equal((lost[0]!.reason as { code: string }).code, 'MP_ERR_REGISTRY_CONFLICT');
    assert.deepEqual(await readdir(join(root, 'mlp')), ['5']);
    assert.deepEqual(await readdir(join(root, 'mlp', '5')), ['model.onnx']);
    const loser = results[0]!.status === 'rejected' ? a : b;
    await publisher.discard(loser);
    assert.deepEqual(await uploadsContent(), []);
  });

  for (const version of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
    it(`refuses version ${version}`, async () => {
      const staged = await publisher.stage('mlp', body(MODEL_BYTES), {});
      await rejectsWith(publisher.commit(staged, version), 'MP_ERR_MODEL_VERSION_INVALID', 'positive integer');
      assert.equal(await pathExists(join(root, 'mlp')), false);
    });
  }

  it('refuses a staged artifact that does not point into the uploads folder', async () => {
    const outside = join(root, 'elsewhere', 'model.onnx');
    await mkdir(dirname(outside));
    await writeFile(outside, MODEL_BYTES);
    const forged: StagedArtifact = { model: 'mlp', tempPath: outside, digest: sha256(MODEL_BYTES), size: MODEL_BYTES.length, signature: FAKE_SIGNATURE };
    await rejectsWith(publisher.commit(forged, 1), 'MP_ERR_INTERNAL', 'not a staged upload');
    await rejectsWith(publisher.discard(forged), 'MP_ERR_INTERNAL', 'not a staged upload');
    await rejectsWith(publisher.discard({ ...forged, tempPath: join(root, '.modelport', 'uploads', 'model.onnx') }), 'MP_ERR_INTERNAL');
    await rejectsWith(publisher.commit({ ...forged, model: '../x' }, 1), 'MP_ERR_REGISTRY_NAME');
    assert.ok(await pathExists(outside));
  });
});

describe('retire', () => {
  it('removes a version folder and leaves the others; a missing one is fine', async () => {
    for (const version of [1, 2]) await publisher.commit(await publisher.stage('mlp', body(MODEL_BYTES), {}), version);
    await publisher.retire('mlp', 1);
    assert.deepEqual(await readdir(join(root, 'mlp')), ['2']);
    await publisher.retire('mlp', 1);
    await publisher.retire('never', 4);
    await rejectsWith(publisher.retire('../mlp', 2), 'MP_ERR_REGISTRY_NAME');
    await rejectsWith(publisher.retire('mlp', 0), 'MP_ERR_MODEL_VERSION_INVALID');
    assert.deepEqual(await readdir(join(root, 'mlp', '2')), ['model.onnx']);
  });
});

describe('discard and concurrency', () => {
  it('discard removes the upload and a second discard is harmless', async () => {
    const staged = await publisher.stage('mlp', body(MODEL_BYTES), {});
    await publisher.discard(staged);
    assert.equal(await pathExists(staged.tempPath), false);
    assert.deepEqual(await uploadsContent(), []);
    await publisher.discard(staged);
  });

  it('concurrent uploads get separate files and all commit', async () => {
    const models = Array.from({ length: 8 }, (_, i) => buildMlpModel({ ...SMALL_MLP, seed: 100 + i }));
    const staged = await Promise.all(models.map((bytes, i) => publisher.stage(i % 2 ? 'a' : 'b', body(bytes, 333), { expectedDigest: sha256(bytes) })));
    assert.equal(new Set(staged.map((s) => s.tempPath)).size, models.length);
    staged.forEach((s, i) => assert.equal(s.digest, sha256(models[i]!)));
    const paths = await Promise.all(staged.map((s, i) => publisher.commit(s, i + 1)));
    for (const [i, path] of paths.entries()) {
      assert.equal(path, join(root, i % 2 ? 'a' : 'b', String(i + 1), 'model.onnx'));
      assert.deepEqual(new Uint8Array(await readFile(path)), models[i]);
    }
    assert.deepEqual(await uploadsContent(), []);
  });
});

describe('fileDigest', () => {
  it('hashes a file by streaming it', async () => {
    const path = join(root, 'big.bin');
    const bytes = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i * 31);
    await writeFile(path, bytes);
    assert.deepEqual(await fileDigest(path), { digest: sha256(bytes), size: bytes.length });
  });
});

describe('with the real OnnxRuntime', () => {
  it('stages a real model with its signature and refuses a corrupt one with the runtime reason', async () => {
    publisher = new ArtifactPublisher({ root, runtime: new OnnxRuntime() });
    const staged = await publisher.stage('mlp', body(MODEL_BYTES), { expectedDigest: sha256(MODEL_BYTES) });
    assert.deepEqual(staged.signature, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 4] }],
    });
    await publisher.commit(staged, 1);

    const truncated = MODEL_BYTES.subarray(0, MODEL_BYTES.length - 100);
    const error = await rejectsWith(publisher.stage('mlp', body(truncated), {}), 'MP_ERR_UPLOAD_INVALID_MODEL', "upload of model 'mlp'", 'not a valid ONNX model');
    assert.ok(!error.message.includes('.modelport'), error.message);
    await rejectsWith(publisher.stage('mlp', body(new TextEncoder().encode('{"not":"onnx"}')), {}), 'MP_ERR_UPLOAD_INVALID_MODEL');
    assert.deepEqual(await uploadsContent(), []);
    assert.deepEqual(await readdir(join(root, 'mlp')), ['1']);
  });
});
