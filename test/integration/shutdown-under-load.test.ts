/**
 * SIGTERM in the middle of steady load, over REST and gRPC at once: clients keep sending until
 * the server has exited. No request may be lost: every one is answered 200/OK, refused with a
 * clear status (503 / UNAVAILABLE with a message), or refused at connect once the listener is
 * closed; none hangs and none is cut off after the server took it. The server's own request log
 * (one line per request, with the client's x-request-id) tells which requests it took, so the
 * test can check each of them against what its client received. The server exits 0 within its
 * grace period.
 */
import assert from 'node:assert/strict';
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { before, test } from 'node:test';
import { prepareExamples } from '../../scripts/prepare-examples.js';
import { inferenceClient, rawBytes } from '../fixtures/grpc-client.js';
import { createAgent, send, type InferTarget } from '../fixtures/http-load.js';
import { examplesDir, startServer } from '../fixtures/server-process.js';
import { binaryInferBody, float32Bytes, randomFloats } from '../fixtures/v2-client.js';

const ROWS = 32;
const CLIENTS_PER_PROTOCOL = 6;
const LOAD_BEFORE_SIGNAL_MS = 1000;
/** Kubernetes' default terminationGracePeriodSeconds is 30 s; a drain of this load needs far less. */
const GRACE_MS = 15_000;

interface Sent {
  id: string;
  protocol: 'http' | 'grpc';
  startedMs: number;
  endedMs: number;
  /** "ok", "refused <status>: <message>", "connection refused", or anything else that went wrong. */
  outcome: string;
}

before(async () => {
  await prepareExamples();
});

test('SIGTERM under REST and gRPC load: every request is answered or cleanly refused, none lost; exit 0', async () => {
  const server = await startServer(['--model-repository', examplesDir, '--model-control-mode', 'explicit', '--load-model', 'mlp', '--request-log-level', 'info']);
  const input = randomFloats(ROWS * 256, 3);
  const { body, headerLength } = binaryInferBody([{ name: 'input', datatype: 'FP32', shape: [ROWS, 256], bytes: float32Bytes(input) }], [{ name: 'output' }]);
  const target: InferTarget = { port: server.port, path: '/v2/models/mlp/infer', body, headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength } };
  const grpcRequest = { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [ROWS, 256] }], raw_input_contents: [rawBytes(input)] };
  const grpc = inferenceClient(server.grpcAddress);
  const agent = createAgent();
  const sent: Sent[] = [];
  let signalAt = Number.POSITIVE_INFINITY;
  let exited = false;

  const httpOnce = async (id: string): Promise<Sent> => {
    const startedMs = performance.now();
    const o = await send(target, agent, startedMs, { 'x-request-id': id });
    const outcome =
      o.status === 200 ? 'ok' : o.status !== 0 ? `refused ${o.status}: ${o.body}` : o.error === 'ECONNREFUSED' ? 'connection refused' : `failed: ${o.error}`;
    return { id, protocol: 'http', startedMs, endedMs: performance.now(), outcome };
  };
  const grpcOnce = (id: string): Promise<Sent> => {
    const startedMs = performance.now();
    const metadata = new Metadata();
    metadata.set('x-request-id', id);
    return new Promise((resolve) => {
      const call = (grpc.raw as unknown as Record<string, (r: object, m: Metadata, o: object, cb: (e: ServiceError | null) => void) => void>).ModelInfer!;
      call.call(grpc.raw, grpcRequest, metadata, { deadline: Date.now() + 30_000 }, (error) => {
        const outcome = error === null ? 'ok' : error.code === GrpcStatus.UNAVAILABLE ? `refused UNAVAILABLE: ${error.details}` : `failed: ${GrpcStatus[error.code]} ${error.details}`;
        resolve({ id, protocol: 'grpc', startedMs, endedMs: performance.now(), outcome });
      });
    });
  };

  // Each client sends back to back until the server has exited and it has been refused once more.
  const client = async (protocol: 'http' | 'grpc', n: number): Promise<void> => {
    for (let i = 0; ; i++) {
      const id = `${protocol}-${n}-${i}`;
      const result = protocol === 'http' ? await httpOnce(id) : await grpcOnce(id);
      sent.push(result);
      if (result.outcome === 'ok') continue;
      if (exited) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  const clients = [
    ...Array.from({ length: CLIENTS_PER_PROTOCOL }, (_, n) => client('http', n)),
    ...Array.from({ length: CLIENTS_PER_PROTOCOL }, (_, n) => client('grpc', n)),
  ];
  await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_SIGNAL_MS));
  signalAt = performance.now();
  const code = await server.stop('SIGTERM');
  const exitMs = performance.now() - signalAt;
  exited = true;
  await Promise.all(clients);
  grpc.close();
  agent.destroy();

  const count = (predicate: (s: Sent) => boolean): number => sent.filter(predicate).length;
  const summary = (['http', 'grpc'] as const).map((protocol) => ({
    protocol,
    sent: count((s) => s.protocol === protocol),
    ok: count((s) => s.protocol === protocol && s.outcome === 'ok'),
    'in flight at SIGTERM, answered ok': count((s) => s.protocol === protocol && s.outcome === 'ok' && s.startedMs < signalAt && s.endedMs > signalAt),
    'refused with a status': count((s) => s.protocol === protocol && s.outcome.startsWith('refused')),
    'connection refused': count((s) => s.protocol === protocol && s.outcome === 'connection refused'),
    lost: count((s) => s.protocol === protocol && s.outcome.startsWith('failed')),
  }));
  console.log(`SIGTERM under load: exit code ${code} after ${exitMs.toFixed(0)} ms`);
  console.table(summary);

  assert.equal(code, 0);
  assert.ok(exitMs < GRACE_MS, `exited ${exitMs.toFixed(0)} ms after SIGTERM`);
  const logged = new Map(server.logs.filter((l) => l.msg === 'infer').map((l) => [String(l.requestId), String(l.outcome)]));
  assert.deepEqual(
    sent
      .filter((s) => s.outcome.startsWith('failed'))
      .map((s) => `${s.id} ${s.outcome}, sent ${(s.startedMs - signalAt).toFixed(1)} ms after SIGTERM, ${logged.has(s.id) ? `taken by the server (${logged.get(s.id)})` : 'never seen by the server'}`),
    [],
    'no request hangs or is cut off',
  );
  for (const s of sent.filter((x) => x.outcome.startsWith('refused'))) {
    assert.match(s.outcome, /^refused (503|UNAVAILABLE): .*\S/, `${s.id}: a refusal carries a message`);
  }
  for (const protocol of summary) {
    assert.ok(protocol['in flight at SIGTERM, answered ok'] > 0, `${protocol.protocol}: requests in flight at SIGTERM were answered`);
  }
  // What the server took, by its own log, each against what the client got.
  const outcomes = new Map(sent.map((s) => [s.id, s.outcome]));
  const taken = server.logs.filter((l) => l.msg === 'infer');
  assert.equal(taken.length, logged.size);
  assert.ok(taken.length > 0);
  for (const line of taken) {
    const got = outcomes.get(String(line.requestId));
    assert.ok(got !== undefined, `the server logged ${String(line.requestId)}, which no client sent`);
    assert.equal(got === 'ok', line.outcome === 'ok', `${String(line.requestId)}: the server says ${String(line.outcome)}, its client got ${got}`);
  }
  assert.equal(count((s) => s.outcome === 'ok'), taken.filter((l) => l.outcome === 'ok').length, 'every request answered ok was one the server took');
});
