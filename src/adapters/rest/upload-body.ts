/**
 * How an upload route hands its request body to a service. A service that stops early (an upload
 * over its limit, a bad name refused before reading) destroys or ignores its stream; destroying the
 * request itself would reset the socket before the answer, and leaving it unread would stall the
 * keep-alive connection. So the service reads a pass-through, and whatever it leaves of the body is
 * read and dropped once it is done. A client that goes away still fails the upload.
 */
import { finished, PassThrough, type Readable } from 'node:stream';

export async function withUploadBody<T>(raw: Readable, use: (body: Readable) => Promise<T>): Promise<T> {
  const body = new PassThrough();
  raw.pipe(body);
  finished(raw, (error) => {
    if (error && !body.destroyed) body.destroy(error);
  });
  body.once('close', () => {
    if (!raw.readableEnded) {
      raw.unpipe(body);
      raw.resume();
    }
  });
  try {
    return await use(body);
  } finally {
    if (!body.destroyed) body.destroy();
  }
}
