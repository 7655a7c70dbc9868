/**
 * The batch commands' flag parsers: the CLI's own list of data formats (kept apart so the jobs
 * module loads only when a job runs) must be the jobs module's, and --map and the integer flags
 * must refuse what they cannot take with a message naming the flag.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DATA_FORMATS as JOB_FORMATS } from '../jobs/index.js';
import { DATA_FORMATS, nonNegativeInteger, parseMap, positiveInteger } from './batch-flags.js';

test('--format and --output-format offer exactly the formats jobs read and write', () => {
  assert.deepEqual([...DATA_FORMATS].sort(), [...JOB_FORMATS].sort());
});

test('--map takes INPUT=FIELD,… entries and refuses malformed or repeated ones', () => {
  assert.deepEqual(parseMap(['input=a, b,c', 'mask=m']), { input: ['a', 'b', 'c'], mask: ['m'] });
  for (const bad of ['input', '=a', 'input=', 'input=a,,b']) assert.throws(() => parseMap([bad]), /--map expects INPUT=FIELD/, bad);
  assert.throws(() => parseMap(['input=a', 'input=b']), /names input 'input' twice/);
});

test('integer flags accept whole numbers and name the flag when refusing', () => {
  assert.equal(positiveInteger('--batch-size', ' 64 '), 64);
  for (const bad of ['0', '-1', '1.5', '1e3', 'x', '', '99999999999999999999']) {
    assert.throws(() => positiveInteger('--batch-size', bad), /--batch-size expects a positive integer/, bad);
  }
  assert.equal(nonNegativeInteger('--retries', '0'), 0);
  assert.throws(() => nonNegativeInteger('--retries', '-2'), /--retries expects a whole number/);
});
