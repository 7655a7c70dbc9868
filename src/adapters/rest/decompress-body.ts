/**
 * Undoes `Content-Encoding: gzip | deflate` on request bodies (tritonclient's
 * request_compression_algorithm), capped at the body limit so a small compressed body cannot
 * expand into gigabytes. Decompression runs on libuv's thread pool, off the event loop.
 */
import { gunzip, inflate, inflateRaw, type InputType, type ZlibOptions } from 'node:zlib';
import { mpError } from '../../core/index.js';
import { HttpError } from './http-error.js';

type Inflate = (buffer: InputType, options: ZlibOptions, callback: (error: Error | null, result: Buffer) => void) => void;

/**
 * Calls back with the decoded body; identity (or no header) hands `body` back untouched, in the
 * same tick, so uncompressed requests pay nothing.
 */
export function decompressBody(body: Buffer, contentEncoding: string | undefined, limit: number, callback: (error: Error | null, body?: Buffer) => void): void {
  const coding = requestCoding(contentEncoding);
  if (coding === undefined) {
    callback(null, body);
    return;
  }
  const options = { maxOutputLength: limit };
  const done = (error: Error | null, result: Buffer): void => {
    if (error) callback(decompressionError(error, coding, limit));
    else callback(null, result);
  };
  if (coding === 'gzip') {
    (gunzip as Inflate)(body, options, done);
    return;
  }
  // HTTP's "deflate" is zlib-wrapped, but some clients send a bare deflate stream.
  (inflate as Inflate)(body, options, (error, result) => {
    if (error && (error as NodeJS.ErrnoException).code === 'Z_DATA_ERROR') (inflateRaw as Inflate)(body, options, done);
    else done(error, result);
  });
}

function requestCoding(header: string | undefined): 'gzip' | 'deflate' | undefined {
  if (header === undefined) return undefined;
  let coding: 'gzip' | 'deflate' | undefined;
  for (const token of header.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || name === 'identity') continue;
    if ((name === 'gzip' || name === 'x-gzip' || name === 'deflate') && coding === undefined) {
      coding = name === 'deflate' ? 'deflate' : 'gzip';
      continue;
    }
    throw new HttpError(415, `unsupported Content-Encoding '${header}': expected gzip, deflate or identity`, { 'Accept-Encoding': 'gzip, deflate' });
  }
  return coding;
}

function decompressionError(error: Error, coding: string, limit: number): Error {
  if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
    return mpError('MP_ERR_REQUEST_TOO_LARGE', `decompressed request body exceeds the limit of ${limit} bytes`, error);
  }
  return mpError('MP_ERR_REQUEST_MALFORMED', `failed to decompress the ${coding} request body: ${error.message}`, error);
}
