/** parseJsonText: native speed for ordinary JSON, exact BigInt for integers beyond 2^53. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isModelportError } from '../../core/index.js';
import { checkJsonDepth, parseJsonText } from './parse-json-text.js';

test('ordinary JSON parses as JSON.parse does, long fractions included', () => {
  const text = '{"a":[1,2.5,-3],"f":0.12345678901234567,"s":"x","e":1e21}';
  assert.deepEqual(parseJsonText(text), JSON.parse(text));
});

test('integers beyond 2^53 become exact BigInt; safe integers stay numbers', () => {
  const parsed = parseJsonText('{"data":[9223372036854775807,-9223372036854775808,18446744073709551615,9007199254740993,9007199254740991,1]}') as {
    data: unknown[];
  };
  assert.deepEqual(parsed.data, [9223372036854775807n, -9223372036854775808n, 18446744073709551615n, 9007199254740993n, 9007199254740991, 1]);
});

test('a long digit run that is not an integer literal stays a number', () => {
  assert.deepEqual(parseJsonText('[12345678901234567.5, 0.1234567890123456789]'), [12345678901234567.5, 0.1234567890123456789]);
});

test('the slow path keeps the last of duplicate keys, like JSON.parse', () => {
  assert.deepEqual(parseJsonText('{"a":1,"a":12345678901234567890}'), { a: 12345678901234567890n });
});

test('malformed JSON is an INVALID_ARG error naming the parse failure, on both paths', () => {
  for (const text of ['{"inputs": [', '{"x": 12345678901234567890', '']) {
    assert.throws(
      () => parseJsonText(text),
      (error: unknown) => isModelportError(error) && error.kind === 'INVALID_ARG' && /failed to parse the request JSON/.test(error.message),
    );
  }
});

test('nesting: 100 levels pass, 101 are refused, brackets inside strings do not count', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
  checkJsonDepth(nested(100));
  checkJsonDepth(`{"a":"${'['.repeat(500)}\\"[[[","b":${nested(99)}}`);
  assert.throws(() => checkJsonDepth(nested(101)), /the request JSON is nested deeper than 100 levels/);
  assert.throws(() => checkJsonDepth(`{"a":${'{"b":'.repeat(101)}1${'}'.repeat(102)}`), /nested deeper than 100 levels/);
});

test('the exact (recursive) parser is never given a document deep enough to overflow the stack', () => {
  const deep = `{"x":12345678901234567890,"y":${'['.repeat(50000)}${']'.repeat(50000)}}`;
  assert.throws(
    () => parseJsonText(deep),
    (error: unknown) => isModelportError(error) && error.kind === 'INVALID_ARG' && /nested deeper than 100 levels/.test(error.message),
  );
  // The fast path: V8's parser is not recursive; depth outside `data` is never walked.
  assert.ok(parseJsonText(`{"y":${'['.repeat(50000)}${']'.repeat(50000)}}`));
});
