/**
 * Overload through the real server, with its default overload settings: measure what `mlp`
 * sustains (closed loop), then offer three times that at a fixed arrival rate (open loop) with a
 * deadline on every request (Triton's `timeout` parameter). The excess must be refused at once
 * with 503 + Retry-After, the requests it accepts must be answered within their deadline, and the
 * server's memory must stay bounded. Prints one table of the figures. Then a gRPC call whose
 * deadline the queue ahead cannot meet: refused at once with UNAVAILABLE and a retry pushback.
 *
 * Each request carries 128 rows (a full batch), and the server runs inference on one core
 * (--cpu-count 1), so that the model, not HTTP parsing, is what saturates: on a two-core machine
 * the load generator needs the other core to offer three times the capacity on schedule.
 *
 * Latency is only meaningful while the machine is ours: when other processes took more than half
 * a core during the overload (a shared machine, or test files running in parallel), the timing
 * claims are printed but not asserted; everything else (statuses, refusals counted, memory) is.
 */
import assert from 'node:assert/strict';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { after, before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { cpuSnapshot, otherCores } from '../fixtures/cpu-share.js';
import { inferenceClient, rawBytes } from '../fixtures/grpc-client.js';
import { closedLoop, createAgent, openLoop, percentile, residentMiB, send, type InferTarget } from '../fixtures/http-load.js';
import { examplesDir, startServer, type ServerProcess } from '../fixtures/server-process.js';
import { binaryInferBody, float32Bytes, randomFloats } from '../fixtures/v2-client.js';

const ROWS = 128;
const DEADLINE_MS = 500;
const CAPACITY_MS = 2000;
const OVERLOAD_MS = 3000;
/** Cores other processes may take during the overload before the timing claims stop meaning anything. */
const BUSY_MACHINE_CORES = 0.5;

let server: ServerProcess;
const agent = createAgent();

before(async () => {
  await prepareExamples();
  server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp', '--cpu-count', '1', '--request-log-level', 'off']);
});
after(async () => {
  agent.destroy();
  await server?.stop();
});

function target(timeoutUs?: number): InferTarget {
  const { body, headerLength } = binaryInferBody(
    [{ name: 'input', datatype: 'FP32', shape: [ROWS, 256], bytes: float32Bytes(randomFloats(ROWS * 256, 7)) }],
    [{ name: 'output' }],
    timeoutUs === undefined ? {} : { parameters: { timeout: timeoutUs } },
    true,
  );
  return { port: server.port, path: '/v2/models/mlp/infer', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength } };
}

async function rejectedCount(): Promise<number> {
  const text = await (await fetch(server.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith('nv_inference_request_failure{') && l.includes('model="mlp"') && l.includes('reason="REJECTED"'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('at 3× capacity the excess is refused within milliseconds and accepted requests meet their deadline', async () => {
  const pid = server.child.pid!;
  const capacity = await closedLoop(target(), 8, CAPACITY_MS);
  assert.ok(capacity.outcomes.every((o) => o.status === 200), 'nothing is refused below capacity');
  const rejectedBefore = await rejectedCount();
  const before = residentMiB(pid);

  const offered = capacity.perSecond * 3;
  const cpuFrom = cpuSnapshot(pid);
  const run = await openLoop(target(DEADLINE_MS * 1000), offered, OVERLOAD_MS);
  const others = otherCores(cpuFrom, cpuSnapshot(pid));
  const after = residentMiB(pid);
  const rejectedAfter = await rejectedCount();

  const accepted = run.outcomes.filter((o) => o.status === 200);
  const refused = run.outcomes.filter((o) => o.status === 503);
  const late = refused.filter((o) => /timeout/.test(o.body));
  const other = run.outcomes.filter((o) => o.status !== 200 && o.status !== 503);
  const refusedP90 = percentile(refused.map((o) => o.ms), 90);
  const refusedP99 = percentile(refused.map((o) => o.ms), 99);
  const acceptedP99 = percentile(accepted.map((o) => o.ms), 99);
  const row = {
    'capacity req/s': Math.round(capacity.perSecond),
    'offered req/s': Math.round(offered),
    sent: run.sent,
    'refused %': ((100 * refused.length) / run.sent).toFixed(1),
    'refused late (queue timeout)': late.length,
    'refusal p50 ms': percentile(refused.map((o) => o.ms), 50).toFixed(1),
    'refusal p90 ms': refusedP90.toFixed(1),
    'refusal p99 ms': refusedP99.toFixed(1),
    'accepted req/s': Math.round(accepted.length / (OVERLOAD_MS / 1000)),
    'accepted p50 ms': percentile(accepted.map((o) => o.ms), 50).toFixed(0),
    'accepted p99 ms': acceptedP99.toFixed(0),
    'deadline ms': DEADLINE_MS,
    'RSS before MiB': before.rss.toFixed(0),
    'RSS after MiB': after.rss.toFixed(0),
    'RSS peak MiB': after.peak.toFixed(0),
    'client max lag ms': run.maxLagMs.toFixed(0),
    'other processes, cores': others.toFixed(2),
  };
  console.log(`overload (mlp, ${ROWS} rows a request, deadline ${DEADLINE_MS} ms):`);
  console.table([row]);
  const timed = others <= BUSY_MACHINE_CORES;
  if (!timed) console.log(`timing claims not asserted: other processes took ${others.toFixed(2)} cores of the machine meanwhile`);

  assert.deepEqual(other.map((o) => `${o.status} ${o.error ?? o.body}`), [], 'every answer is 200 or 503, no transport errors');
  assert.ok(refused.length >= run.sent / 3, `at 3× capacity at least a third is refused (${refused.length} of ${run.sent})`);
  assert.ok(accepted.length > 0, 'the server keeps serving while it refuses');
  // Refused at once, not queued to time out: what the queue still drops at a deadline is the
  // little that a sudden slowdown of the machine leaves behind.
  assert.ok(late.length <= refused.length / 10, `${late.length} of ${refused.length} refusals came only at the deadline`);
  for (const o of refused) {
    assert.equal(o.retryAfter, '1', 'a refusal says when to retry');
    assert.match(o.body, /model 'mlp:1'/, 'a refusal names the model');
  }
  if (timed) {
    // The typical refusal comes within milliseconds. Its tail does not: on a two-core machine
    // whose cores the test itself saturates (inference, HTTP and the load generator), the server
    // stalls now and then for 100–400 ms (measured: p50 4–10 ms, p90 30–40 ms, p99 60–520 ms).
    // Even so, no refusal made at once waits as long as a queue timeout would have.
    const refusedP50 = percentile(refused.map((o) => o.ms), 50);
    assert.ok(refusedP50 < 50, `refusal p50 ${refusedP50.toFixed(1)} ms`);
    const immediateP99 = percentile(refused.filter((o) => !late.includes(o)).map((o) => o.ms), 99);
    assert.ok(immediateP99 < DEADLINE_MS, `p99 of immediate refusals ${immediateP99.toFixed(1)} ms, within the deadline`);
    // The server's deadline runs from when it reads the request; the client's clock runs from the
    // send until its own event loop (which lags, measured) sees the answer, plus the loopback trip.
    const slack = run.maxLagMs + 10;
    assert.ok(acceptedP99 <= DEADLINE_MS + slack, `accepted p99 ${acceptedP99.toFixed(0)} ms within the ${DEADLINE_MS} ms deadline (+${slack.toFixed(0)} ms of client lag and transport)`);
  }
  assert.equal(rejectedAfter - rejectedBefore, refused.length, 'every refusal is counted in nv_inference_request_failure{reason="REJECTED"}');
  assert.ok(after.rss < before.rss + 256, `RSS ${before.rss.toFixed(0)} → ${after.rss.toFixed(0)} MiB`);
});

test('gRPC: a call whose deadline the queue ahead cannot meet is refused at once with UNAVAILABLE and a pushback', async () => {
  const client = inferenceClient(server.grpcAddress);
  await client.unary('ServerLive');
  // Fill the queue with requests that carry no deadline (about a second of work at least), then
  // call with a deadline shorter than that.
  const backlog = Array.from({ length: 200 }, () => send(target(), agent));
  let answered = 0;
  for (const pending of backlog) void pending.then(() => answered++);
  while (answered < 5) await new Promise((resolve) => setTimeout(resolve, 2));
  const deadlineMs = 600;
  const waiting = backlog.length - answered;
  const started = performance.now();
  const error = await new Promise<ServiceError | null>((resolve) => {
    const call = (client.raw as unknown as Record<string, (r: object, m: Metadata, o: object, cb: (e: ServiceError | null) => void) => void>).ModelInfer!;
    const input = rawBytes(randomFloats(ROWS * 256, 9));
    call.call(client.raw, { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [ROWS, 256] }], raw_input_contents: [input] }, new Metadata(), { deadline: Date.now() + deadlineMs }, resolve);
  });
  const ms = performance.now() - started;
  client.close();
  const outcomes = await Promise.all(backlog);
  assert.ok(error !== null, 'the call was refused');
  assert.equal(GrpcStatus[error.code], 'UNAVAILABLE', error.details);
  assert.match(error.details, /model 'mlp:1' is overloaded: \d+ batch items are queued ahead .* deadline of \d+ ms/);
  assert.deepEqual(error.metadata.get('grpc-retry-pushback-ms'), ['1000']);
  // UNAVAILABLE rather than the client's own DEADLINE_EXCEEDED already says it came before the deadline.
  console.log(`gRPC call with a ${deadlineMs} ms deadline behind ${waiting} unanswered requests: refused in ${ms.toFixed(1)} ms`);
  assert.ok(outcomes.every((o) => o.status === 200), 'requests without a deadline are queued and answered');
});
