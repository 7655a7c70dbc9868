/**
 * Turns a benchmark run into its report: the machine it ran on, per model the two baselines and
 * Modelport's rows, each throughput as a ratio to the lower baseline, and the goals the project
 * holds itself to. The same markdown is printed and written to bench/README.md, so the committed
 * results are exactly what the run showed.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchConfig } from './bench-config.js';
import type { BenchModel, Encoding } from './bench-payloads.js';
import type { InProcessResult } from './in-process-baseline.js';
import type { LoadResult } from './load-client.js';
import type { ServerWindowStats } from './modelport-process.js';
import type { ProcessWindow } from './process-sampler.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  onnxruntime: string;
  date: string;
}

export function describeMachine(repoRoot: string): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) cpuModel = match[1]!.trim();
  } catch {
    // Not Linux: os.cpus() already named it.
  }
  let onnxruntime = 'unknown';
  try {
    onnxruntime = (JSON.parse(readFileSync(join(repoRoot, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // Reported as unknown.
  }
  return {
    cpuModel,
    cores: availableParallelism(),
    memoryGiB: totalmem() / 2 ** 30,
    node: process.version,
    onnxruntime,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

export interface LoadRow {
  encoding: Encoding;
  concurrency: number;
  load: LoadResult;
  server: ProcessWindow;
  client: ProcessWindow;
  /** From Modelport's statistics endpoint; absent for the baseline server. */
  stats?: ServerWindowStats;
}

export interface ModelResult {
  model: BenchModel;
  inProcess: InProcessResult;
  requestBytes: Record<Encoding, number>;
  answerBytes: Partial<Record<Encoding, number>>;
  /** Where the baseline's canned answers came from. */
  cannedFrom: 'modelport' | 'bench';
  /** Largest difference between Modelport's batch-1 output and the in-process one, per encoding. */
  outputDiff: Partial<Record<Encoding, number>>;
  baseline: LoadRow[];
  modelport: LoadRow[];
}

export interface BenchRun {
  machine: MachineInfo;
  config: BenchConfig;
  models: ModelResult[];
  /** Why Modelport was not measured, when it was not. */
  modelportError?: string;
  /** Exit code of `modelport serve` after SIGTERM (0 expected). */
  modelportExit?: number | null;
  durationSeconds: number;
}

/** Protocol limit of an encoding: the best req/s of the canned server (batch-1 requests, so items/s). */
export function baselineLimit(result: ModelResult, encoding: Encoding): number | undefined {
  const rows = result.baseline.filter((row) => row.encoding === encoding && row.load.errors === 0);
  if (rows.length === 0) return undefined;
  return Math.max(...rows.map((row) => row.load.requestsPerSecond));
}

export function lowerBaseline(result: ModelResult, encoding: Encoding): { itemsPerSecond: number; which: 'in-process' | 'HTTP' } {
  const http = baselineLimit(result, encoding);
  const inProcess = result.inProcess.best.itemsPerSecond;
  if (http === undefined || inProcess <= http) return { itemsPerSecond: inProcess, which: 'in-process' };
  return { itemsPerSecond: http, which: 'HTTP' };
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);
}

function rate(value: number): string {
  return Number.isNaN(value) ? '–' : Math.round(value).toLocaleString('en-US');
}

/** perf_analyzer's rule: throughput within ±10% across the (sub-)windows. */
function stability(load: LoadResult): string {
  const counts = load.subWindowCounts;
  if (counts.length < 2) return '–';
  const max = Math.max(...counts);
  const min = Math.min(...counts);
  if (min === 0) return 'unstable';
  const spread = (max / min - 1) * 100;
  return spread <= 10 ? `yes (±${spread.toFixed(0)}%)` : `no (±${spread.toFixed(0)}%)`;
}

function errorsCell(load: LoadResult): string {
  if (load.errors === 0 && load.unfinished === 0) return '0';
  const kinds = Object.entries(load.errorKinds).map(([kind, count]) => `${count}× ${kind}`);
  if (load.unfinished > 0) kinds.push(`${load.unfinished} unanswered`);
  return `**${load.errors}** (${kinds.join(', ')})`;
}

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function modelSection(result: ModelResult, run: BenchRun): string {
  const { model, inProcess } = result;
  const out: string[] = [`## ${model.name}`, ''];
  const answer = (e: Encoding) => (result.answerBytes[e] === undefined ? '' : `, answer ${result.answerBytes[e]} B`);
  out.push(
    `Input \`${model.inputName}\` FP32 [1,${model.featureShape.join(',')}] per request, max_batch_size ${model.maxBatchSize}. ` +
      `Binary request ${result.requestBytes.binary} B${answer('binary')}; JSON request ${result.requestBytes.json} B${answer('json')}.`,
  );
  const diffs = Object.entries(result.outputDiff).map(([e, d]) => `${e} ${d === undefined ? '–' : d.toExponential(1)}`);
  if (diffs.length > 0) out.push(`Modelport's batch-1 output vs in-process: max abs difference ${diffs.join(', ')}.`);
  out.push('');

  out.push('### Baseline A: in-process onnxruntime-node', '');
  const sizes = inProcess.settings[0]?.batches.map((b) => b.batch) ?? [];
  out.push(
    table(
      ['intra-op threads', 'batch-1 p50 ms', 'batch-1 p99 ms', ...sizes.map((b) => `b${b} items/s`)],
      inProcess.settings.map((s) => [String(s.threads), fixed(s.batch1P50Ms, 3), fixed(s.batch1P99Ms, 3), ...s.batches.map((b) => (b === s.best ? `**${rate(b.itemsPerSecond)}**` : rate(b.itemsPerSecond)))]),
    ),
  );
  out.push(
    '',
    `Kept: batch 1 ${rate(inProcess.batch1.itemsPerSecond)} items/s, p50 ${fixed(inProcess.batch1.p50Ms, 3)} ms (${inProcess.batch1.threads} thread${inProcess.batch1.threads > 1 ? 's' : ''}); ` +
      `best batch ${inProcess.best.batch}: **${rate(inProcess.best.itemsPerSecond)} items/s** (${inProcess.best.threads} thread${inProcess.best.threads > 1 ? 's' : ''}).`,
    '',
  );

  out.push(`### Baseline B: bare node:http answering canned bytes (${result.cannedFrom === 'modelport' ? "Modelport's own answers" : 'answers encoded by the benchmark; Modelport was not reachable'})`, '');
  out.push(
    table(
      ['encoding', 'concurrency', 'req/s', 'p50 ms', 'p99 ms', 'server CPU%', 'client CPU%', 'errors', 'stable'],
      result.baseline.map((row) => [row.encoding, String(row.concurrency), rate(row.load.requestsPerSecond), fixed(row.load.latencyMs.p50, 3), fixed(row.load.latencyMs.p99, 3), fixed(row.server.cpuPercent, 0), fixed(row.client.cpuPercent, 0), errorsCell(row.load), stability(row.load)]),
    ),
  );
  out.push('');
  const lowers = run.config.encodings.map((e) => {
    const lower = lowerBaseline(result, e);
    return `${e} ${rate(lower.itemsPerSecond)} items/s (${lower.which})`;
  });
  out.push(`Lower baseline: ${lowers.join('; ')}.`, '');

  out.push('### Modelport', '');
  if (result.modelport.length === 0) {
    out.push(`Not measured: ${run.modelportError ?? 'no rows'}.`, '');
    return out.join('\n');
  }
  out.push(
    table(
      ['encoding', 'concurrency', 'items/s', 'p50 ms', 'p99 ms', '× lower baseline', 'avg batch', 'queue ms', 'compute ms', 'in-server ms', 'server CPU%', 'RSS MB', 'client CPU%', 'errors', 'stable'],
      result.modelport.map((row) => [
        row.encoding,
        String(row.concurrency),
        rate(row.load.requestsPerSecond),
        fixed(row.load.latencyMs.p50, 3),
        fixed(row.load.latencyMs.p99, 3),
        fixed(row.load.requestsPerSecond / lowerBaseline(result, row.encoding).itemsPerSecond, 2),
        fixed(row.stats?.avgBatch, 1),
        fixed(row.stats?.avgQueueMs, 3),
        fixed(row.stats?.avgComputeInferMs, 3),
        fixed(row.stats?.avgRequestMs, 3),
        fixed(row.server.cpuPercent, 0),
        fixed(row.server.peakRssMb, 0),
        fixed(row.client.cpuPercent, 0),
        errorsCell(row.load),
        stability(row.load),
      ]),
    ),
  );
  out.push('');
  return out.join('\n');
}

export interface Goal {
  name: string;
  value: string;
  target: string;
  met: boolean | undefined;
}

export function goals(run: BenchRun): Goal[] {
  const mlp = run.models.find((m) => m.model.name === 'mlp');
  const row = (concurrency: number) => mlp?.modelport.find((r) => r.encoding === 'binary' && r.concurrency === concurrency && r.load.errors === 0);
  const c64 = row(64);
  const c1 = row(1);
  const ratio = mlp && c64 ? c64.load.requestsPerSecond / lowerBaseline(mlp, 'binary').itemsPerSecond : undefined;
  const gap = mlp && c1 ? c1.load.latencyMs.p50 - mlp.inProcess.batch1.p50Ms : undefined;
  return [
    {
      name: 'mlp, binary, concurrency 64: items/s ÷ lower baseline',
      value: ratio === undefined ? 'not measured' : `${ratio.toFixed(2)} (${rate(c64!.load.requestsPerSecond)} ÷ ${rate(lowerBaseline(mlp!, 'binary').itemsPerSecond)})`,
      target: '≥ 0.7',
      met: ratio === undefined ? undefined : ratio >= 0.7,
    },
    {
      name: 'mlp, binary, concurrency 1: p50 − in-process batch-1 p50',
      value: gap === undefined ? 'not measured' : `${gap.toFixed(3)} ms (${c1!.load.latencyMs.p50.toFixed(3)} − ${mlp!.inProcess.batch1.p50Ms.toFixed(3)})`,
      target: '≤ 0.5 ms',
      met: gap === undefined ? undefined : gap <= 0.5,
    },
  ];
}

export function renderReport(run: BenchRun): string {
  const { machine, config } = run;
  const out: string[] = ['# Modelport benchmarks', ''];
  out.push(
    `Measured ${machine.date} on ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(0)} GiB, Node ${machine.node}, onnxruntime-node ${machine.onnxruntime}; ` +
      `windows ${config.warmupMs / 1000} s warm-up + ${config.measureMs / 1000} s measured; whole run ${run.durationSeconds.toFixed(0)} s.`,
    '',
  );
  if (config.quick) out.push('> **Smoke run** (BENCH_QUICK=1, short windows): checks that the benchmark works; the figures are not for comparison.', '');
  const failed = run.models.flatMap((m) => [...m.baseline, ...m.modelport]).filter((row) => row.load.errors > 0 || row.load.unfinished > 0);
  if (failed.length > 0) out.push(`> **This run had errors** in ${failed.length} row(s); see the errors column. Figures of those rows do not count.`, '');
  if (run.modelportError) out.push(`> **Modelport was not measured**: ${run.modelportError}`, '');
  if (run.modelportExit !== undefined && run.modelportExit !== 0) out.push(`> \`modelport serve\` exited with code ${run.modelportExit} after SIGTERM (0 expected).`, '');

  out.push(
    '## How to run',
    '',
    '```sh',
    'npm run bench                          # builds, then measures everything below and rewrites this file',
    'BENCH_QUICK=1 npm run bench            # smoke run, 1 s windows',
    'BENCH_WARMUP=2 BENCH_SECONDS=10 npm run bench',
    'BENCH_MODELS=mlp BENCH_CONCURRENCY=1,64 npm run bench',
    'BENCH_PROFILE=1 npm run bench          # CPU profile of the server under mlp binary load (or: node dist/bench/profile-server.js)',
    '```',
    '',
    'Run it on an otherwise idle machine: client and servers share its cores.',
    '',
    '## Method',
    '',
    'Everything is measured in one run on one machine, and every Modelport throughput is given as a ratio to the lower of two baselines ' +
      'measured in that run. **Baseline A** runs the model with onnxruntime-node inside the benchmark process (the session options ' +
      "Modelport's workers use), sweeping batch sizes up to max_batch_size with 1 intra-op thread and with one per core, and keeps the better; " +
      'batch-1 p50 is timed run by run. **Baseline B** is a bare `node:http` server in its own process that reads each request body and answers ' +
      "with the exact bytes Modelport answered to the same request: the HTTP limit of this machine and client (batch-1 requests, so req/s = items/s; " +
      'best concurrency per encoding). Modelport (`modelport serve` on examples/models, default settings, logging at warn) and B are driven by the same ' +
      'closed-loop client in a separate process: N keep-alive connections, each sending its next batch-1 request as soon as the previous answer has ' +
      'fully arrived (no pipelining), over raw TCP sockets with one pre-built request buffer. That costs the client about a third of the CPU per request of a keep-alive ' +
      "`http.Agent` client (no request/response objects or header maps), which matters when client and server share the cores; autocannon's latency histogram " +
      'holds whole milliseconds, too coarse for the latency goal. Each request is timed with `process.hrtime.bigint()`, from the write to the last byte. After a warm-up window, ' +
      'requests that complete inside the measurement window count; throughput is those over the window, p50/p99 their latencies (nearest rank). Any answer ' +
      "but 200 is an error and flags the row. Around the window the benchmark reads Modelport's statistics endpoint (avg executed batch = Δinference_count / " +
      'Δexecution_count; queue, compute_infer and success ("in-server", the whole request inside the data plane) = Δns / Δcount per request) and /proc for the server and client processes (CPU % of one core, peak RSS). ' +
      'A row is *stable* when per-sub-window throughput (5 sub-windows) stays within ±10%, perf_analyzer\'s criterion.',
    '',
  );
  for (const result of run.models) out.push(modelSection(result, run));

  out.push('## Goals', '');
  out.push(
    table(
      ['goal', 'value', 'target', 'status'],
      goals(run).map((g) => [g.name, g.value, g.target, g.met === undefined ? 'not measured' : g.met ? 'met' : '**not met**']),
    ),
    '',
  );
  out.push(
    '## Profiling',
    '',
    '`BENCH_PROFILE=1 npm run bench` starts `modelport serve` under `node --cpu-prof`, drives it with the mlp binary concurrency-64 load, stops it with ' +
      'SIGTERM and prints the top 25 functions by self time for the main thread and for each inference worker thread (node writes one profile per thread).',
    '',
  );
  return out.join('\n');
}
