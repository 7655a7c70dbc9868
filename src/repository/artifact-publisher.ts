/**
 * Puts an uploaded model file into the folder repository without ever exposing a half-written or
 * unchecked file to it: `stage` streams the upload into a private temporary folder under
 * `<root>/.modelport/uploads/` while hashing and counting it, checks the digest and that the
 * runtime can read it; `commit` then moves it into `<root>/<model>/<version>/` with a single
 * folder rename, so the repository's scanner sees either no version folder or a complete one;
 * `retire` takes one away the same way.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isModelportError, mpError, NAME_PATTERN, type ModelSignature } from '../core/index.js';
import type { Runtime } from '../runtime/index.js';
import { isVersionFolderName } from './version-folders.js';

export interface ArtifactPublisherOptions {
  /** The folder repository's root. */
  root: string;
  /** Checks an upload is a model the server can load (and reads its signature). */
  runtime: Pick<Runtime, 'inspect'>;
  /** Largest upload accepted, in bytes. Default 2 GiB. */
  maxBytes?: number;
  /** File name of the model inside a version folder. Default 'model.onnx'. */
  modelFilename?: string;
}

export interface StageOptions {
  /** "sha256:<64 hex>" the client computed; the upload is refused when the file's differs. */
  expectedDigest?: string;
}

/** An upload that passed every check and waits, in its temporary folder, for commit or discard. */
export interface StagedArtifact {
  model: string;
  /** The file inside its own folder under `<root>/.modelport/uploads/`. */
  tempPath: string;
  /** "sha256:<64 lowercase hex>". */
  digest: string;
  size: number;
  signature: ModelSignature;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

/** Where uploads wait, relative to the root; the leading dot makes the repository scan skip it. */
const UPLOADS_DIR = join('.modelport', 'uploads');

const DIGEST_FORMAT = /^sha256:[0-9a-fA-F]{64}$/;

const NAME_RULE =
  "a model name is 1 to 128 characters of letters, digits, '_', '.' and '-' that starts with a letter, digit or '_' " +
  "(so it is one folder inside the repository: no '/', '\\', leading '.' or '..')";

/** Refuses names that are not a single safe path segment, before anything touches the disk. */
function checkModelName(model: string): void {
  if (typeof model !== 'string' || !NAME_PATTERN.test(model) || model === '.' || model === '..') {
    throw mpError('MP_ERR_REGISTRY_NAME', `invalid model name ${JSON.stringify(model)}: ${NAME_RULE}`);
  }
}

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Streams a file through sha256; used to record versions that were put in place by hand. */
export async function fileDigest(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export class ArtifactPublisher {
  readonly #root: string;
  readonly #uploads: string;
  readonly #runtime: Pick<Runtime, 'inspect'>;
  readonly #maxBytes: number;
  readonly #modelFilename: string;

  constructor(options: ArtifactPublisherOptions) {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new TypeError(`ArtifactPublisher: maxBytes must be a positive integer, got ${maxBytes}`);
    const modelFilename = options.modelFilename ?? 'model.onnx';
    if (modelFilename !== basename(modelFilename) || modelFilename.startsWith('.') || modelFilename.includes('\0')) {
      throw new TypeError(`ArtifactPublisher: modelFilename must be a plain file name, got ${JSON.stringify(modelFilename)}`);
    }
    this.#root = resolve(options.root);
    this.#uploads = join(this.#root, UPLOADS_DIR);
    this.#runtime = options.runtime;
    this.#maxBytes = maxBytes;
    this.#modelFilename = modelFilename;
  }

  /**
   * Streams `body` to a temporary file, then checks size, digest and loadability. The name and
   * digest format are checked before the body is read, so a refused request writes nothing and
   * leaves the body to the caller. Every other failure removes what was written.
   */
  async stage(model: string, body: Readable, options: StageOptions = {}): Promise<StagedArtifact> {
    checkModelName(model);
    const expected = options.expectedDigest;
    if (expected !== undefined && !DIGEST_FORMAT.test(expected)) {
      throw mpError(
        'MP_ERR_UPLOAD_DIGEST',
        `digest ${JSON.stringify(expected)} for model '${model}' is malformed: expected 'sha256:' followed by 64 hexadecimal digits`,
      );
    }

    // Each upload gets a folder of its own, named at random: concurrent uploads cannot collide,
    // and the runtime's check of external data "beside the model" sees an empty folder, which is
    // exactly what the version folder will hold after commit.
    await mkdir(this.#uploads, { recursive: true });
    const folder = join(this.#uploads, randomUUID());
    await mkdir(folder);
    const tempPath = join(folder, this.#modelFilename);
    try {
      const { digest, size } = await this.#receive(model, body, tempPath);
      if (expected !== undefined && expected.toLowerCase() !== digest) {
        throw mpError('MP_ERR_UPLOAD_DIGEST', `upload of model '${model}' has digest ${digest}, but the client sent ${expected}`);
      }
      if (size === 0) throw mpError('MP_ERR_UPLOAD_INVALID_MODEL', `upload of model '${model}' is empty, expected an ONNX model`);
      const signature = await this.#inspect(model, tempPath);
      return { model, tempPath, digest, size, signature };
    } catch (error) {
      await rm(folder, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Moves a staged file to `<root>/<model>/<version>/<modelFilename>` and returns that path. The
   * file is renamed into a hidden sibling folder and synced first, then the folder is renamed
   * into place. An existing version folder refuses the commit (MP_ERR_REGISTRY_CONFLICT) and the
   * staged file stays staged, so the caller can pick another version or discard it.
   */
  async commit(staged: StagedArtifact, version: number): Promise<string> {
    const { modelDir, finalDir } = this.#versionPaths(staged.model, version);
    const source = this.#checkStaged(staged);
    const conflict = (): Error =>
      mpError('MP_ERR_REGISTRY_CONFLICT', `version ${version} of model '${staged.model}' already exists in the repository ('${finalDir}')`);

    await mkdir(modelDir, { recursive: true });
    if (await exists(finalDir)) throw conflict();

    // A dot name is neither a version folder nor a model folder, so a scan that runs meanwhile
    // ignores it; the random part keeps two commits of the same version apart until the rename.
    const tempDir = join(modelDir, `.${version}.tmp-${randomBytes(6).toString('hex')}`);
    await mkdir(tempDir);
    const placed = join(tempDir, this.#modelFilename);
    try {
      await rename(source, placed);
    } catch (error) {
      await rm(tempDir, { recursive: true, force: true });
      throw error;
    }
    try {
      await syncPath(placed);
      // rename(2) would quietly replace an empty folder that appeared since the check above;
      // a non-empty one (another commit of this version) makes it fail, which is what matters.
      await rename(tempDir, finalDir);
    } catch (error) {
      // Put the file back where the staged artifact says it is, so it can still be retried or discarded.
      await rename(placed, source).catch(() => undefined);
      await rm(tempDir, { recursive: true, force: true });
      const code = errorCode(error);
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') throw conflict();
      throw error;
    }
    // Durability of the rename itself; directories cannot be opened for sync everywhere.
    await syncPath(modelDir).catch(() => undefined);
    await rmdir(dirname(source)).catch(() => undefined);
    return join(finalDir, this.#modelFilename);
  }

  /**
   * Removes `<root>/<model>/<version>/` (release-manager's deleteVersion calls this). The folder
   * is first renamed to a hidden name, so a repository scan sees the version vanish at once rather
   * than half-deleted; a version that is not there is not an error.
   */
  async retire(model: string, version: number): Promise<void> {
    const { modelDir, finalDir } = this.#versionPaths(model, version);
    const doomed = join(modelDir, `.${version}.retired-${randomBytes(6).toString('hex')}`);
    try {
      await rename(finalDir, doomed);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  /** Deletes a staged upload that will not be committed; a second call is harmless. */
  async discard(staged: StagedArtifact): Promise<void> {
    const source = this.#checkStaged(staged);
    try {
      await rm(dirname(source), { recursive: true });
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }

  /** The model folder and version folder, checked to be one and two levels below the root. */
  #versionPaths(model: string, version: number): { modelDir: string; finalDir: string } {
    checkModelName(model);
    if (!Number.isSafeInteger(version) || !isVersionFolderName(String(version))) {
      throw mpError('MP_ERR_MODEL_VERSION_INVALID', `version ${version} of model '${model}' is invalid: expected a positive integer`);
    }
    // The name check already keeps these inside the root; resolving and comparing again means a
    // future change to the name rule cannot turn into a write or delete elsewhere.
    const modelDir = resolve(this.#root, model);
    const finalDir = resolve(modelDir, String(version));
    if (!isInside(this.#root, modelDir) || dirname(modelDir) !== this.#root || dirname(finalDir) !== modelDir) {
      throw mpError('MP_ERR_REGISTRY_NAME', `model '${model}' version ${version} lies outside the repository root`);
    }
    return { modelDir, finalDir };
  }

  /**
   * A StagedArtifact is a plain object a caller could build by hand; only paths of the shape
   * stage() creates, `<uploads>/<folder>/<modelFilename>`, are ever moved or deleted.
   */
  #checkStaged(staged: StagedArtifact): string {
    const source = resolve(staged.tempPath);
    const folder = dirname(source);
    if (basename(source) !== this.#modelFilename || dirname(folder) !== this.#uploads || !isInside(this.#uploads, folder)) {
      throw mpError('MP_ERR_INTERNAL', `'${staged.tempPath}' is not a staged upload of this repository`);
    }
    return source;
  }

  /** Copies the body to `path`, hashing and counting; stops reading once past maxBytes. */
  async #receive(model: string, body: Readable, path: string): Promise<{ digest: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    const limit = this.#maxBytes;
    let bodyFailed = false;
    const onBodyError = (): void => {
      bodyFailed = true;
    };
    body.once('error', onBodyError);
    const meter = new Transform({
      transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        size += bytes.length;
        if (size > limit) {
          callback(mpError('MP_ERR_UPLOAD_TOO_LARGE', `upload of model '${model}' exceeds the limit of ${limit} bytes`));
          return;
        }
        hash.update(bytes);
        callback(null, bytes);
      },
    });
    try {
      // pipeline destroys the body when the meter fails: the rest of an oversized upload is never read.
      await pipeline(body, meter, createWriteStream(path, { flags: 'wx' }));
    } catch (error) {
      if (isModelportError(error)) throw error;
      if (bodyFailed || errorCode(error) === 'ERR_STREAM_PREMATURE_CLOSE') {
        throw mpError('MP_ERR_REQUEST_CANCELLED', `upload of model '${model}' was interrupted after ${size} bytes: ${(error as Error).message}`, error);
      }
      throw mpError('MP_ERR_INTERNAL', `cannot store upload of model '${model}': ${(error as Error).message}`, error);
    } finally {
      body.off('error', onBodyError);
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  }

  async #inspect(model: string, path: string): Promise<ModelSignature> {
    try {
      return await this.#runtime.inspect(path);
    } catch (error) {
      // The runtime names the file it read; the random upload path means nothing to the client.
      const reason = (error instanceof Error ? error.message : String(error)).split(path).join(this.#modelFilename);
      throw mpError('MP_ERR_UPLOAD_INVALID_MODEL', `upload of model '${model}' is not a loadable model: ${reason}`, error);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return false;
    throw error;
  }
}

/** fsync through a read-only handle: enough for a file's data and, on POSIX, a folder's entries. */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
