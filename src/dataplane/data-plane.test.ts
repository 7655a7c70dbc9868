import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OFFLINE_PRIORITY, type ModelConfig, type RequestContext } from '../core/index.js';
import type { ModelEntry, ModelRepository, ModelVersionEntry } from '../repository/index.js';
import type { ScheduledRequest, ScheduledResult, Scheduler } from '../scheduler/index.js';
import { DataPlane } from './data-plane.js';
import { StatisticsRecorder } from './statistics-recorder.js';

const config: ModelConfig = {
  name: 'm',
  platform: 'onnxruntime_onnx',
  backend: 'onnxruntime',
  max_batch_size: 4,
  input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [2] }],
  output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [2] }],
  dynamic_batching: { priority_levels: 3, default_priority_level: 2 },
};

/** Echoes inputs as outputs and remembers what it was asked. */
class EchoScheduler implements Scheduler {
  last: ScheduledRequest | undefined;
  async enqueue(request: ScheduledRequest): Promise<ScheduledResult> {
    this.last = request;
    return {
      outputs: [{ ...request.inputs[0]!, name: 'y' }],
      timing: { queueNs: 10, computeInputNs: 1, computeInferNs: 100, computeOutputNs: 1, batchSize: request.batchSize },
    };
  }
  stats() {
    return { queued: 0, executing: 0 };
  }
  async drain() {}
}

function setup(versions: Array<Partial<ModelVersionEntry> & { version: number }>) {
  const scheduler = new EchoScheduler();
  const entry: ModelEntry = {
    name: 'm',
    state: 'READY',
    reason: '',
    config,
    versions: versions.map((v) => ({ name: 'm', state: 'READY', reason: '', config, scheduler, ...v })),
  };
  const repository: ModelRepository = {
    start: async () => {},
    stop: async () => {},
    models: () => [entry],
    model: (name) => (name === 'm' ? entry : undefined),
    load: async () => {},
    unload: async () => {},
  };
  const dataPlane = new DataPlane({ repository, statistics: new StatisticsRecorder(), serverVersion: '1.2.3' });
  dataPlane.setAccepting(true);
  return { dataPlane, scheduler, entry };
}

const http: RequestContext = { protocol: 'http' };
const request = (extra: object = {}) => ({ modelName: 'm', inputs: [{ name: 'x', datatype: 'FP32' as const, shape: [1, 2], data: new Float32Array([1, 2]) }], ...extra });

describe('DataPlane', () => {
  test('metadata lists ready versions and prefixes -1 for batching models', () => {
    const { dataPlane } = setup([{ version: 1 }, { version: 2, state: 'UNAVAILABLE', reason: 'broken', scheduler: undefined }]);
    assert.deepEqual(dataPlane.modelMetadata('m'), {
      name: 'm', versions: ['1'], platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }],
      outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 2] }],
    });
    assert.throws(() => dataPlane.modelMetadata('nope'), /Request for unknown model: 'nope' is not found/);
    assert.deepEqual(dataPlane.repositoryIndex(false), [
      { name: 'm', version: '1', state: 'READY' },
      { name: 'm', version: '2', state: 'UNAVAILABLE', reason: 'broken' },
    ]);
    assert.equal(dataPlane.isReady(), false, 'strict readiness: a broken version holds it back');
  });

  test('infer answers with the serving version and records statistics', async () => {
    const { dataPlane } = setup([{ version: 1 }, { version: 3 }]);
    const response = await dataPlane.infer(request({ id: 'r1' }), http);
    assert.equal(response.modelVersion, '3');
    assert.equal(response.id, 'r1');
    const stats = dataPlane.modelStatistics('m', '3').model_stats[0]!;
    assert.equal(stats.inference_count, 1);
    assert.equal(stats.inference_stats.queue.count, 1);
    await assert.rejects(dataPlane.infer({ ...request(), inputs: [] }, http), /missing input 'x'/);
    assert.equal(dataPlane.modelStatistics('m', '3').model_stats[0]!.inference_stats.fail.count, 1);
  });

  test('timeout and priority parameters reach the scheduler; priority maps onto the levels', async () => {
    const { dataPlane, scheduler } = setup([{ version: 1 }]);
    await dataPlane.infer(request({ parameters: { timeout: 5000, priority: 0 } }), http);
    assert.equal(scheduler.last!.timeoutUs, 5000);
    assert.equal(scheduler.last!.priority, 2);
    await dataPlane.infer(request({ parameters: { priority: 9 } }), http);
    assert.equal(scheduler.last!.priority, 3);
    await assert.rejects(dataPlane.infer(request({ parameters: { timeout: -1 } }), http), /'timeout' must be a non-negative integer/);
  });

  test('modelport_offline queues a request after all online traffic; the caller\'s own priority wins', async () => {
    const { dataPlane, scheduler } = setup([{ version: 1 }]);
    await dataPlane.infer(request({ parameters: { modelport_offline: true, priority: 1 } }), http);
    assert.equal(scheduler.last!.priority, OFFLINE_PRIORITY);
    await dataPlane.infer(request({ parameters: { modelport_offline: false, priority: 1 } }), http);
    assert.equal(scheduler.last!.priority, 1);
    await dataPlane.infer(request({ parameters: { modelport_offline: true } }), { protocol: 'inprocess', priority: 0 });
    assert.equal(scheduler.last!.priority, 0);
  });

  test('cancellation: a poll is passed as it is, a signal is read only when the scheduler asks', async () => {
    const { dataPlane, scheduler } = setup([{ version: 1 }]);
    const isCancelled = () => false;
    await dataPlane.infer(request(), { protocol: 'http', isCancelled });
    assert.equal(scheduler.last!.isCancelled, isCancelled);
    let reads = 0;
    const context = {
      protocol: 'inprocess' as const,
      get signal() {
        reads += 1;
        return new AbortController().signal;
      },
    };
    await dataPlane.infer(request(), context);
    assert.equal(reads, 0);
    assert.ok(scheduler.last!.signal instanceof AbortSignal);
    assert.equal(reads, 1);
  });
});
