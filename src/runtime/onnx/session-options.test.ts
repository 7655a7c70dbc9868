/**
 * Unit tests of session options: the thread budget and sequential defaults, each supported
 * configuration parameter, and a clear MP_ERR_MODEL_CONFIG for bad values.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSessionOptions } from './session-options.js';

describe('buildSessionOptions', () => {
  it('uses the instance thread budget, one inter-op thread, sequential execution, all optimisations, no spinning, no engine logging below fatal', () => {
    assert.deepEqual(buildSessionOptions(3), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 3,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
  });

  it('honours the configuration parameters', () => {
    const options = buildSessionOptions(2, {
      intra_op_thread_count: '4',
      inter_op_thread_count: '2',
      enable_mem_pattern: 'false',
      allow_spinning: '0',
      unrelated: 'kept for other layers',
    });
    assert.equal(options.intraOpNumThreads, 4);
    assert.equal(options.interOpNumThreads, 2);
    assert.equal(options.enableMemPattern, false);
    assert.deepEqual(options.extra, { session: { intra_op: { allow_spinning: '0' } } });
    assert.equal(buildSessionOptions(1, { enable_mem_pattern: 'TRUE', allow_spinning: 'true' }).enableMemPattern, true);
    assert.deepEqual(buildSessionOptions(1, { allow_spinning: '1' }).extra, { session: { intra_op: { allow_spinning: '1' } } });
  });

  it('refuses bad values naming the key', () => {
    for (const [key, value] of [
      ['intra_op_thread_count', 'many'],
      ['intra_op_thread_count', '-1'],
      ['inter_op_thread_count', '1.5'],
      ['enable_mem_pattern', 'yes'],
      ['allow_spinning', '2'],
    ] as const) {
      assert.throws(
        () => buildSessionOptions(1, { [key]: value }),
        (error: { code?: string; message: string }) => error.code === 'MP_ERR_MODEL_CONFIG' && error.message.includes(key),
      );
    }
    assert.throws(() => buildSessionOptions(Number.NaN), { code: 'MP_ERR_MODEL_CONFIG' });
  });
});
