import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestIdentity } from './request-id.js';

test('keeps a sane x-request-id, replaces one with spaces, control characters or too long', () => {
  assert.equal(requestIdentity('abc-123_x.y', undefined).requestId, 'abc-123_x.y');
  for (const bad of ['has space', 'new\nline', 'x'.repeat(129), '']) {
    assert.match(requestIdentity(bad, undefined).requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, JSON.stringify(bad));
  }
});

test('reads the trace id of a W3C traceparent, ignores malformed and all-zero ones', () => {
  assert.equal(requestIdentity(undefined, '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01').traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(requestIdentity(undefined, '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01').traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  assert.equal(requestIdentity(undefined, '00-00000000000000000000000000000000-00f067aa0ba902b7-01').traceId, undefined);
  assert.equal(requestIdentity(undefined, 'garbage').traceId, undefined);
});
