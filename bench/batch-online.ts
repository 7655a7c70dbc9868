/**
 * Online latency beside a batch job, for the batch benchmark: `modelport serve` driven by the
 * serving benchmark's closed-loop client (mlp, binary batch-1 requests, concurrency 8) in
 * windows: alone; while a job runs on the same server through its jobs API (POST /v1/jobs with
 * --data-root, ended by POST /v1/jobs/{id}/cancel), when the server has one; while `modelport
 * batch --url` sends the same rows to the server from its own process; and alone again (two
 * shared cores drift; the last window shows by how much). Each job is stopped after its window.
 * The job's own rate during the window is read from the model's statistics: inferences counted
 * over the window minus the online requests answered in it.
 */
import { existsSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, relative } from 'node:path';
import { BENCH_MODELS } from './bench-payloads.js';
import { startBatchCli, type BatchCliResult, type RunningBatch } from './batch-process.js';
import { runLoad, type LoadResult } from './load-client.js';
import { payloadFor } from './measure-level.js';
import { examplesRepository, httpExchange, modelStats, startModelport, type ModelportProcess, type StatsSnapshot } from './modelport-process.js';
import { ProcessSampler, type ProcessWindow } from './process-sampler.js';

const MLP = BENCH_MODELS.find((m) => m.name === 'mlp')!;
export const ONLINE_CONCURRENCY = 8;

export type JobRoute = 'jobs API' | 'modelport batch --url';

export interface OnlineWindow {
  label: string;
  load: LoadResult;
  server: ProcessWindow;
  /** 1-minute load average read just before the window's warm-up. */
  loadAverage: number;
  /** Only for a window with a job beside it. */
  job?: {
    route: JobRoute;
    /** Batch rows inferred per second during the window (model statistics minus online requests). */
    rowsPerSecond: number;
    /** Whether the job was still running when the window closed (it must cover the whole window). */
    coveredWindow: boolean;
    /** CPU of the `modelport batch --url` process over the window, % of one core (CLI route only). */
    clientCpuPercent?: number;
  };
}

export interface OnlineResult {
  /** Why the jobs API was not measured, when it was not. */
  routeNote?: string;
  windows: OnlineWindow[];
  /** The job's input (relative to the data folder). */
  jobInput: string;
  serverExit: number | null;
}

export interface OnlineOptions {
  /** Folder holding the job input; the server's --data-root when the jobs API is used. */
  dataDir: string;
  /** Job input (inside dataDir). */
  input: string;
  format: 'csv' | 'parquet';
  batchSize: number;
  partitionRows: number;
  idColumn: string;
  map: string[];
  warmupMs: number;
  measureMs: number;
  /** Scratch folder for the CLI route's output and stats. */
  workDir: string;
  serveSupportsDataRoot: boolean;
  log: (line: string) => void;
}

interface JobHandle {
  route: JobRoute;
  isRunning(): Promise<boolean>;
  stop(): Promise<void>;
  cliPid?: number;
  /** The server's record of an API job under the data root, removed at the end. */
  recordFile?: string;
}

interface JobRecordView {
  id?: string;
  state?: string;
  error?: { message?: string };
}

function json(answer: { body: Buffer }): unknown {
  try {
    return JSON.parse(answer.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Submits the job through POST /v1/jobs; undefined (with the reason) when the server has no jobs API. */
async function submitApiJob(server: ModelportProcess, options: OnlineOptions, output: string): Promise<JobHandle | string> {
  const body = {
    model: 'mlp',
    input: relative(options.dataDir, options.input),
    output,
    format: options.format,
    batch_size: options.batchSize,
    partition_rows: options.partitionRows,
    id_column: options.idColumn,
    map: { input: options.map[0]!.slice('input='.length).split(',') },
  };
  const answer = await httpExchange(server.port, 'POST', '/v1/jobs', { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(body)));
  if (answer.status === 404) return 'the server answered POST /v1/jobs with 404';
  if (answer.status < 200 || answer.status >= 300) {
    return `POST /v1/jobs answered ${answer.status}: ${answer.body.toString('utf8', 0, 300)}`;
  }
  const record = json(answer) as JobRecordView | undefined;
  const id = record?.id;
  if (id === undefined) return `POST /v1/jobs answered without a job id: ${answer.body.toString('utf8', 0, 300)}`;
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  const state = async (): Promise<string | undefined> => {
    const view = await httpExchange(server.port, 'GET', path).catch(() => undefined);
    return view?.status === 200 ? (json(view) as JobRecordView | undefined)?.state : undefined;
  };
  const isRunning = async (): Promise<boolean> => {
    const now = await state();
    return now === 'running' || now === 'queued';
  };
  return {
    route: 'jobs API',
    isRunning,
    recordFile: join(options.dataDir, '.modelport', 'jobs', `${id}.json`),
    async stop() {
      if (!(await isRunning())) return;
      // Answers once the job has stopped (its batches in flight finish first).
      await httpExchange(server.port, 'POST', `${path}/cancel`).catch(() => undefined);
      const deadline = Date.now() + 60_000;
      while ((await isRunning()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    },
  };
}

function startCliJob(server: ModelportProcess, options: OnlineOptions): JobHandle & { running: RunningBatch } {
  const output = join(options.workDir, `online-job.${options.format}`);
  const running = startBatchCli({
    model: 'mlp',
    input: options.input,
    output,
    url: `http://127.0.0.1:${server.port}`,
    batchSize: options.batchSize,
    partitionRows: options.partitionRows,
    idColumn: options.idColumn,
    map: options.map,
    statsFile: join(options.workDir, 'online-job-stats.json'),
  });
  return {
    route: 'modelport batch --url',
    running,
    cliPid: running.pid,
    async isRunning() {
      return !running.exited;
    },
    async stop() {
      running.interrupt();
      const result: BatchCliResult = await running.result;
      if (result.exitCode !== 0 && result.exitCode !== 1) options.log(`  the --url job ended with code ${result.exitCode}: ${result.stderrTail.split('\n').slice(-3).join(' | ')}`);
      rmSync(output, { force: true });
      rmSync(`${output}.parts`, { recursive: true, force: true });
      rmSync(`${output}.errors.jsonl`, { force: true });
    },
  };
}

async function inferenceCount(port: number): Promise<number> {
  return (await modelStats(port, 'mlp'))?.inferenceCount ?? Number.NaN;
}

async function window(
  server: ModelportProcess,
  options: OnlineOptions,
  label: string,
  job: JobHandle | undefined,
): Promise<OnlineWindow> {
  const payload = payloadFor(MLP, 'binary');
  const loadAverage = loadavg()[0]!;
  const sampler = new ProcessSampler(server.pid);
  let jobSampler: ProcessSampler | undefined;
  let serverWindow: ProcessWindow = { cpuPercent: Number.NaN, peakRssMb: Number.NaN };
  let jobWindow: ProcessWindow | undefined;
  let before: StatsSnapshot | undefined;
  let after: StatsSnapshot | undefined;
  let coveredWindow = true;
  const load = await runLoad(
    {
      host: '127.0.0.1',
      port: server.port,
      path: payload.path,
      headers: payload.headers,
      bodyBase64: payload.body.toString('base64'),
      concurrency: ONLINE_CONCURRENCY,
      warmupMs: options.warmupMs,
      measureMs: options.measureMs,
      subWindowMs: Math.max(200, options.measureMs / 5),
    },
    {
      async onMeasureStart() {
        sampler.start();
        if (job?.cliPid !== undefined) {
          jobSampler = new ProcessSampler(job.cliPid);
          jobSampler.start();
        }
        before = await modelStats(server.port, 'mlp');
      },
      async onMeasureEnd() {
        serverWindow = sampler.stop();
        if (jobSampler) jobWindow = jobSampler.stop();
        after = await modelStats(server.port, 'mlp');
        if (job) coveredWindow = await job.isRunning();
      },
    },
  );
  const result: OnlineWindow = { label, load, server: serverWindow, loadAverage };
  if (job) {
    const inferred = before && after ? after.inferenceCount - before.inferenceCount : Number.NaN;
    result.job = { route: job.route, rowsPerSecond: Math.max(0, inferred - load.completed) / load.windowSeconds, coveredWindow };
    if (jobWindow) result.job.clientCpuPercent = jobWindow.cpuPercent;
  }
  options.log(
    `  ${label}: ${Math.round(load.requestsPerSecond)} req/s, p50 ${load.latencyMs.p50.toFixed(2)} ms, p99 ${load.latencyMs.p99.toFixed(2)} ms` +
      (result.job ? `, job ≈${Math.round(result.job.rowsPerSecond)} rows/s${coveredWindow ? '' : ' (ENDED BEFORE THE WINDOW DID)'}` : '') +
      (load.errors > 0 ? `, ${load.errors} ERRORS` : ''),
  );
  return result;
}

export async function measureOnline(options: OnlineOptions): Promise<OnlineResult> {
  const serveArgs = options.serveSupportsDataRoot ? ['--data-root', options.dataDir] : [];
  const server = await startModelport({ repository: examplesRepository, models: ['mlp'], serveArgs });
  const windows: OnlineWindow[] = [];
  let routeNote: string | undefined = options.serveSupportsDataRoot ? undefined : '`modelport serve` has no --data-root option in this build';
  const apiOutput = `batch-bench-online-${process.pid}.${options.format}`;
  let serverExit: number | null = null;
  const recordFiles: string[] = [];
  try {
    windows.push(await window(server, options, 'alone', undefined));
    // The server's own job first (what the jobs API offers), then the same rows sent by the CLI.
    const starts: Array<() => Promise<JobHandle | undefined>> = [
      async () => {
        if (!options.serveSupportsDataRoot) return undefined;
        const submitted = await submitApiJob(server, options, apiOutput);
        if (typeof submitted === 'string') {
          routeNote = submitted;
          return undefined;
        }
        if (submitted.recordFile !== undefined) recordFiles.push(submitted.recordFile);
        return submitted;
      },
      async () => startCliJob(server, options),
    ];
    for (const start of starts) {
      const job = await start();
      if (job === undefined) continue;
      options.log(`  batch job beside it: ${job.route} on ${relative(options.dataDir, options.input)}`);
      try {
        // Start measuring once the job's batches are flowing (past model describe and the input scan).
        const before = await inferenceCount(server.port);
        const deadline = Date.now() + 120_000;
        while ((await inferenceCount(server.port)) < before + 4 * options.batchSize) {
          if (!(await job.isRunning())) throw new Error(`the batch job (${job.route}) ended before its batches reached the server`);
          if (Date.now() > deadline) throw new Error(`the batch job (${job.route}) sent no batches within 120 s`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        windows.push(await window(server, options, `with a batch job (${job.route})`, job));
      } finally {
        await job.stop();
      }
    }
    windows.push(await window(server, options, 'alone, after the jobs', undefined));
  } finally {
    serverExit = await server.stop();
    for (const leftover of [apiOutput, `${apiOutput}.parts`, `${apiOutput}.errors.jsonl`, ...recordFiles]) {
      const path = leftover.startsWith('/') ? leftover : join(options.dataDir, leftover);
      if (existsSync(path)) rmSync(path, { recursive: true, force: true });
    }
  }
  return {
    ...(routeNote !== undefined ? { routeNote } : {}),
    windows,
    jobInput: relative(options.dataDir, options.input),
    serverExit,
  };
}
