/**
 * An HTTP answer that no catalogue error kind describes (415 for an unknown Content-Encoding, 405,
 * 404 for a path that does not exist). Only the REST adapter creates and reads these; everything
 * the data plane reports arrives as a ModelportError and is mapped by error-status.ts.
 */
export class HttpError extends Error {
  readonly statusCode: number;
  readonly headers: Record<string, string> | undefined;

  constructor(statusCode: number, message: string, headers?: Record<string, string>) {
    super(message);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.headers = headers;
  }
}
