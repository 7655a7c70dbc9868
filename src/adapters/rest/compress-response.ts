/**
 * Optional gzip/deflate of infer responses when the client's Accept-Encoding asks for it
 * (tritonclient's response_compression_algorithm, browsers, fetch). Small bodies are sent as they
 * are: compressing a few hundred bytes costs more time than it saves on the wire.
 */
import { deflate, gzip, type InputType, type ZlibOptions } from 'node:zlib';

export type ResponseCoding = 'gzip' | 'deflate';

/** Bodies below this many bytes are never compressed. */
export const MIN_COMPRESSED_BYTES = 1024;

type Deflate = (buffer: InputType, options: ZlibOptions, callback: (error: Error | null, result: Buffer) => void) => void;

/** The coding to answer with, preferring gzip; q=0 excludes a coding as RFC 9110 says. */
export function responseCoding(acceptEncoding: string | undefined): ResponseCoding | undefined {
  if (acceptEncoding === undefined) return undefined;
  let best: ResponseCoding | undefined;
  for (const token of acceptEncoding.split(',')) {
    const [rawName, ...params] = token.split(';');
    const name = rawName!.trim().toLowerCase();
    if (name !== 'gzip' && name !== 'deflate') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) <= 0) continue;
    if (name === 'gzip') return 'gzip';
    best = 'deflate';
  }
  return best;
}

/** Compresses on libuv's thread pool, off the event loop. */
export function compressResponse(body: Buffer, coding: ResponseCoding): Promise<Buffer> {
  const run = (coding === 'gzip' ? gzip : deflate) as Deflate;
  return new Promise((resolve, reject) => {
    run(body, {}, (error, result) => (error ? reject(error) : resolve(result)));
  });
}
