/**
 * A real Prometheus server scrapes a real Modelport: the test sends known requests over REST and
 * gRPC (successes, failures, batches of two) and checks what Prometheus' query API reports for
 * Triton's nv_* counters and Modelport's histograms against them, exactly.
 *
 * Needs the `prometheus` binary (Debian package `prometheus`; PROMETHEUS_BIN to point elsewhere).
 * CI installs it; without it the test is skipped locally and fails under CI=true.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { inferenceClient, rawBytes } from '../fixtures/grpc-client.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { float32Bytes, postBinary, randomFloats } from '../fixtures/v2-client.js';

const binary = process.env.PROMETHEUS_BIN ?? 'prometheus';
const available = spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
if (!available && process.env.CI) throw new Error(`the Prometheus test needs '${binary}' (apt-get install prometheus)`);

let server: ServerProcess;
let prometheus: ChildProcess | undefined;
let prometheusUrl = '';
let dir = '';

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as { port: number };
  probe.close();
  return port;
}

async function query(expression: string): Promise<number | undefined> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expression)}`);
  const body = (await response.json()) as { status: string; data: { result: Array<{ value: [number, string] }> } };
  assert.equal(body.status, 'success');
  const first = body.data.result[0];
  return first === undefined ? undefined : Number(first.value[1]);
}

/** Polls until Prometheus has scraped the expected value (scrapes every second). */
async function eventually(expression: string, expected: number): Promise<void> {
  let last: number | undefined;
  for (let i = 0; i < 60; i++) {
    last = await query(expression);
    if (last === expected) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.fail(`${expression}: Prometheus reports ${last}, expected ${expected}`);
}

before(async () => {
  if (!available) return;
  await prepareExamples();
  server = await startServer(['--model-repository', examplesDir]);
  dir = mkdtempSync(join(tmpdir(), 'modelport-prometheus-'));
  const target = new URL(server.metricsUrl);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: modelport\n    static_configs:\n      - targets: ['${target.host}']\n`,
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(binary, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 120; i++) {
    try {
      if ((await fetch(`${prometheusUrl}/-/ready`)).status === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error('Prometheus did not become ready');
});

after(async () => {
  if (!available) return;
  if (prometheus && prometheus.exitCode === null) {
    prometheus.kill('SIGTERM');
    await once(prometheus, 'exit');
  }
  assert.equal(await server.stop(), 0);
  rmSync(dir, { recursive: true, force: true });
});

test('Prometheus scrapes Triton\'s counters and Modelport\'s histograms, equal to the requests sent', { skip: !available && `'${binary}' not installed` }, async () => {
  // 30 REST requests of one item and 6 of two items, 5 gRPC requests of one item, 3 refused.
  for (let i = 0; i < 30; i++) {
    const r = await postBinary(`${server.url}/v2/models/mlp/infer`, [{ name: 'input', datatype: 'FP32', shape: [1, 256], bytes: float32Bytes(randomFloats(256, i)) }]);
    assert.equal(r.status, 200);
  }
  for (let i = 0; i < 6; i++) {
    const r = await postBinary(`${server.url}/v2/models/mlp/infer`, [{ name: 'input', datatype: 'FP32', shape: [2, 256], bytes: float32Bytes(randomFloats(512, i)) }]);
    assert.equal(r.status, 200);
  }
  const grpc = inferenceClient(server.grpcAddress);
  for (let i = 0; i < 5; i++) {
    await grpc.unary('ModelInfer', { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 256] }], raw_input_contents: [rawBytes(randomFloats(256, i))] });
  }
  grpc.close();
  for (let i = 0; i < 3; i++) {
    const r = await postBinary(`${server.url}/v2/models/mlp/infer`, [{ name: 'input', datatype: 'FP32', shape: [1, 255], bytes: float32Bytes(randomFloats(255, i)) }]);
    assert.equal(r.status, 400);
  }

  await eventually('nv_inference_request_success{model="mlp",version="1"}', 41);
  await eventually('nv_inference_count{model="mlp",version="1"}', 47);
  await eventually('nv_inference_request_failure{model="mlp",version="1",reason="OTHER"}', 3);
  await eventually('nv_inference_request_failure{model="mlp",version="1",reason="REJECTED"}', 0);
  await eventually('modelport_request_duration_seconds_count{model="mlp",protocol="grpc",outcome="ok"}', 5);
  await eventually('modelport_request_duration_seconds_count{model="mlp",protocol="http",outcome="ok"}', 36);
  await eventually('sum(modelport_request_duration_seconds_count{model="mlp",outcome="MP_ERR_INPUT_SHAPE"})', 3);
  await eventually('modelport_batch_size_sum{model="mlp"}', 47);
  await eventually('nv_inference_pending_request_count{model="mlp"}', 0);
  await eventually('modelport_model_state{model="vad",state="READY"}', 1);
  // Executions never exceed requests; the queue duration counter moves with the requests.
  const executions = await query('nv_inference_exec_count{model="mlp"}');
  assert.ok(executions !== undefined && executions >= 1 && executions <= 41, `exec count ${executions}`);
  assert.ok(((await query('nv_inference_request_duration_us{model="mlp"}')) ?? 0) > 0);
  assert.ok(((await query('process_resident_memory_bytes')) ?? 0) > 0);
  await eventually('modelport_instances{model="mlp",version="1"}', 1);
  assert.ok(((await query('nv_model_load_duration_secs{model="mlp"}')) ?? 0) > 0);
  assert.ok(((await query('modelport_instance_busy_seconds_total{model="mlp"}')) ?? 0) > 0);
});
