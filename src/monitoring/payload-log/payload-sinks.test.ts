import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonArray } from './payload-sinks.js';

test('JSON lines become the JSON array a webhook receives, escaped line breaks inside records untouched', () => {
  const records = [{ a: 1, text: 'two\nlines' }, { b: [2, 3] }, {}];
  const lines = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''), 'latin1');
  assert.deepEqual(JSON.parse(jsonArray(lines).toString('latin1')), records);
  assert.deepEqual(JSON.parse(jsonArray(Buffer.from('{"only":true}\n')).toString()), [{ only: true }]);
  assert.equal(jsonArray(Buffer.alloc(0)).toString(), '[]');
});
