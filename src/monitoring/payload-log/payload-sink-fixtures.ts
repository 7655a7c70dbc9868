/**
 * Sinks for the payload logger's tests, built on the logging thread from their module (their
 * `spec`, or moduleSink()): one whose writes never finish (what a hung endpoint looks like) and
 * one whose writes always fail. Not used by the server.
 */
import type { PayloadSink, SinkSpec } from './payload-sinks.js';

export class BlockedSink implements PayloadSink {
  readonly name = 'blocked';
  readonly spec: SinkSpec = { kind: 'module', url: import.meta.url, exportName: 'BlockedSink' };
  write(): Promise<void> {
    return new Promise(() => {});
  }
  async close(): Promise<void> {}
}

export class FailingSink implements PayloadSink {
  readonly name = 'failing';
  readonly spec: SinkSpec = { kind: 'module', url: import.meta.url, exportName: 'FailingSink' };
  async write(): Promise<void> {
    throw new Error('sink refused the batch');
  }
  async close(): Promise<void> {}
}
