/**
 * One load level against a server process: drives it with the closed-loop client and samples
 * the server's and client's CPU/RSS, and for Modelport its statistics, over the measurement
 * window. Shared by the benchmark and the profiling run so both measure the same way.
 */
import type { BenchConfig } from './bench-config.js';
import { inferRequest, inputData, type BenchModel, type Encoding, type HttpPayload } from './bench-payloads.js';
import type { LoadRow } from './bench-report.js';
import { runLoad } from './load-client.js';
import { modelStats, statsDelta, type StatsSnapshot } from './modelport-process.js';
import { ProcessSampler, type ProcessWindow } from './process-sampler.js';

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function payloadFor(model: BenchModel, encoding: Encoding): HttpPayload {
  return inferRequest(model, encoding, inputData(model, 1), 1);
}

/** One load level against a server process, with its CPU/RSS and (for Modelport) statistics. */
export async function measureLevel(
  config: BenchConfig,
  port: number,
  serverPid: number,
  model: BenchModel,
  encoding: Encoding,
  concurrency: number,
  withStats: boolean,
): Promise<LoadRow> {
  const payload = payloadFor(model, encoding);
  const server = new ProcessSampler(serverPid);
  let client: ProcessSampler | undefined;
  let serverWindow: ProcessWindow = { cpuPercent: Number.NaN, peakRssMb: Number.NaN };
  let clientWindow: ProcessWindow = { cpuPercent: Number.NaN, peakRssMb: Number.NaN };
  let before: StatsSnapshot | undefined;
  let after: StatsSnapshot | undefined;
  const load = await runLoad(
    {
      host: '127.0.0.1',
      port,
      path: payload.path,
      headers: payload.headers,
      bodyBase64: payload.body.toString('base64'),
      concurrency,
      warmupMs: config.warmupMs,
      measureMs: config.measureMs,
      subWindowMs: config.subWindowMs,
    },
    {
      async onMeasureStart(clientPid) {
        server.start();
        client = new ProcessSampler(clientPid);
        client.start();
        if (withStats) before = await modelStats(port, model.name);
      },
      async onMeasureEnd() {
        serverWindow = server.stop();
        if (client) clientWindow = client.stop();
        if (withStats) after = await modelStats(port, model.name);
      },
    },
  );
  const row: LoadRow = { encoding, concurrency, load, server: serverWindow, client: clientWindow };
  const stats = statsDelta(before, after);
  if (stats) row.stats = stats;
  const errors = load.errors > 0 ? `, ${load.errors} ERRORS ${JSON.stringify(load.errorKinds)}` : '';
  log(
    `  ${model.name} ${encoding} c${concurrency}: ${Math.round(load.requestsPerSecond)} items/s, p50 ${load.latencyMs.p50.toFixed(3)} ms, ` +
      `p99 ${load.latencyMs.p99.toFixed(3)} ms, server CPU ${serverWindow.cpuPercent.toFixed(0)}%` +
      (stats ? `, avg batch ${stats.avgBatch.toFixed(1)}` : '') +
      errors,
  );
  return row;
}
