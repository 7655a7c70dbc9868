import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StatisticsRecorder } from './statistics-recorder.js';

const timing = { queueNs: 1000, computeInputNs: 200, computeInferNs: 3000, computeOutputNs: 100, batchSize: 4 };

test('counts items, executions and durations as integers', () => {
  const stats = new StatisticsRecorder();
  stats.recordSuccess('m', 1, 5000.6, 2, timing);
  stats.recordSuccess('m', 1, 4000, 2, timing);
  stats.recordExecution('m', 1, { batchSize: 4, computeInputNs: 200, computeInferNs: 3000, computeOutputNs: 100, ok: true });
  stats.recordExecution('m', 1, { batchSize: 4, computeInputNs: 1, computeInferNs: 1, computeOutputNs: 1, ok: false });
  stats.recordFailure('m', 1, 700);
  const s = stats.snapshot('m', 1);
  assert.equal(s.version, '1');
  assert.equal(s.inference_count, 4);
  assert.equal(s.execution_count, 1);
  assert.deepEqual(s.inference_stats.success, { count: 2, ns: 9001 });
  assert.deepEqual(s.inference_stats.queue, { count: 2, ns: 2000 });
  assert.deepEqual(s.inference_stats.fail, { count: 1, ns: 700 });
  assert.deepEqual(s.batch_stats, [{ batch_size: 4, compute_input: { count: 1, ns: 200 }, compute_infer: { count: 1, ns: 3000 }, compute_output: { count: 1, ns: 100 } }]);
  assert.ok(s.last_inference > 0);
});

test('snapshots are copies and versions are separate', () => {
  const stats = new StatisticsRecorder();
  const first = stats.snapshot('m', 2);
  stats.recordSuccess('m', 2, 10, 1, timing);
  assert.equal(first.inference_count, 0);
  assert.equal(stats.snapshot('m', 2).inference_count, 1);
  assert.equal(stats.snapshot('m', 3).inference_count, 0);
});
