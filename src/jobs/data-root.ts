/**
 * The folder server jobs may read and write (`--data-root`): turns the relative paths a client
 * sends into absolute paths that stay inside it, and stores uploaded input files in it.
 *
 * A client of the jobs API must not be able to make the server read or overwrite anything outside
 * the root, so a path is refused (MP_ERR_JOB_INVALID) when it is absolute, has a `..` segment, or
 * leads through a symbolic link to somewhere outside: the input's real path, and the real path of
 * the output's folder (its nearest existing ancestor when the folder is still to be created), must
 * lie inside the root's real path. The check is repeated when a job starts, so a link swapped in
 * after the job was accepted is caught too. `.modelport/` holds the server's own job records and
 * is off limits.
 */
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, open, realpath, rename, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep, win32 } from 'node:path';
import type { Readable } from 'node:stream';
import { mpError } from '../core/index.js';
import type { DataFormat } from './formats/index.js';

/** Folder under the root for the server's own state (job records). */
export const STATE_DIR = '.modelport';
/** Folder under the root where uploads land. */
export const UPLOADS_DIR = 'uploads';
/** Default largest upload: 2 GiB, as for model files. */
export const DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024 ** 3;

export class DataRoot {
  /** Real path of the root (symbolic links resolved), what every path is compared with. */
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Creates the folder if needed and resolves its real path. */
  static async open(dir: string): Promise<DataRoot> {
    await mkdir(dir, { recursive: true });
    return new DataRoot(await realpath(dir));
  }

  /** Absolute real path of an input file inside the root; MP_ERR_JOB_INPUT when it does not exist. */
  async input(relativePath: unknown, what = 'input'): Promise<string> {
    const candidate = this.#join(relativePath, what);
    let real: string;
    try {
      real = await realpath(candidate);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw mpError('MP_ERR_JOB_INPUT', `${what} '${String(relativePath)}' does not exist under the data root`);
      throw mpError('MP_ERR_JOB_INPUT', `${what} '${String(relativePath)}' cannot be read: ${(error as Error).message}`, error);
    }
    this.#assertInside(real, relativePath, what);
    return real;
  }

  /**
   * Absolute path of an output file inside the root: the real path of its folder (or of the
   * nearest folder above it that exists) plus the rest of the path. The output's partial results
   * go to `<output>.parts/`; a symbolic link there could lead outside, so one is refused.
   */
  async output(relativePath: unknown, what = 'output'): Promise<string> {
    const candidate = this.#join(relativePath, what);
    const name = basename(candidate);
    // Walk up to the nearest folder that exists; the rest of the path will be created under it.
    let existing = dirname(candidate);
    const missing: string[] = [];
    for (;;) {
      try {
        const real = await realpath(existing);
        this.#assertInside(real, relativePath, what);
        const folder = join(real, ...missing);
        const output = join(folder, name);
        await this.#refuseLink(`${output}.parts`, relativePath, what);
        return output;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || existing === this.path) throw error;
        missing.unshift(basename(existing));
        existing = dirname(existing);
      }
    }
  }

  /** The path relative to the root, as clients see it ('/' separators). */
  relative(absolute: string): string {
    return relative(this.path, absolute).split(sep).join('/');
  }

  /**
   * Streams an upload to `uploads/<uuid>.<format>`: into a hidden temporary file first, fsync'd,
   * then renamed, so a file under its final name is always complete. Refuses (and removes the
   * partial file) once more than `maxBytes` arrived. Returns the path relative to the root.
   */
  async storeUpload(body: Readable, format: DataFormat, maxBytes: number): Promise<string> {
    const folder = join(this.path, UPLOADS_DIR);
    await mkdir(folder, { recursive: true });
    const name = `${randomUUID()}.${format}`;
    const tmp = join(folder, `.${name}.tmp`);
    const handle = await open(tmp, 'wx');
    let size = 0;
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        size += bytes.length;
        if (size > maxBytes) {
          throw mpError('MP_ERR_UPLOAD_TOO_LARGE', `the upload exceeds the limit of ${maxBytes} bytes`);
        }
        await handle.write(bytes);
      }
      await handle.sync();
      await handle.close();
      await rename(tmp, join(folder, name));
    } catch (error) {
      await handle.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    return `${UPLOADS_DIR}/${name}`;
  }

  /** Root + a client's relative path, refusing what could point elsewhere before touching the disk. */
  #join(relativePath: unknown, what: string): string {
    if (typeof relativePath !== 'string' || relativePath.trim() === '') {
      throw mpError('MP_ERR_JOB_INVALID', `${what} must be a path relative to the data root`);
    }
    const text = relativePath;
    if (text.includes('\0')) throw mpError('MP_ERR_JOB_INVALID', `${what} '${text.replaceAll('\0', '\\0')}' holds a NUL character`);
    // Both separators and Windows drive paths are refused whatever the platform: a path that means
    // "absolute" anywhere is a client trying something.
    if (isAbsolute(text) || win32.isAbsolute(text) || /^[a-zA-Z]:/.test(text)) {
      throw mpError('MP_ERR_JOB_INVALID', `${what} '${text}' must be relative to the data root, not an absolute path`);
    }
    const segments = text.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
    if (segments.includes('..')) throw mpError('MP_ERR_JOB_INVALID', `${what} '${text}' must not contain '..'`);
    if (segments.length === 0) throw mpError('MP_ERR_JOB_INVALID', `${what} '${text}' names the data root itself, not a file`);
    if (segments[0] === STATE_DIR) throw mpError('MP_ERR_JOB_INVALID', `${what} '${text}' is inside ${STATE_DIR}/, which holds the server's own state`);
    return join(this.path, ...segments);
  }

  #assertInside(real: string, relativePath: unknown, what: string): void {
    if (real !== this.path && !real.startsWith(this.path + sep)) {
      throw mpError('MP_ERR_JOB_INVALID', `${what} '${String(relativePath)}' leads outside the data root (through a symbolic link)`);
    }
  }

  async #refuseLink(path: string, relativePath: unknown, what: string): Promise<void> {
    try {
      if ((await lstat(path)).isSymbolicLink()) {
        throw mpError('MP_ERR_JOB_INVALID', `${what} '${String(relativePath)}': '${basename(path)}' is a symbolic link; the job writes its partial results there`);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
