/**
 * Runs `modelport batch` as a child process, exactly as a user types it, and watches it from the
 * outside: wall time from spawn to exit, peak resident memory and CPU time (from the exit hook in
 * batch-exit-stats.ts, with /proc samples as the fallback), and the summary it prints (rows in and
 * out, failed rows, the engine's own rows/s). Used for the timed runs from files and for the job
 * that runs beside online traffic (with --url); and the hand-written job of batch-handwritten.ts,
 * watched the same way.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ExitStats } from './batch-exit-stats.js';
import { repoRoot } from './modelport-process.js';
import { cpuSeconds } from './process-sampler.js';

const bin = join(repoRoot, 'bin', 'modelport.js');
const exitHook = join(repoRoot, 'dist', 'bench', 'batch-exit-stats.js');
const handwritten = join(repoRoot, 'dist', 'bench', 'batch-handwritten.js');

export interface BatchCliOptions {
  model: string;
  input: string;
  output: string;
  /** Run the model in the child (`--model-repository`)… */
  repository?: string;
  /** …or send its rows to a server (`--url`). */
  url?: string;
  batchSize: number;
  partitionRows: number;
  idColumn?: string;
  /** `--map` values, e.g. `input=f0,f1,…`. */
  map?: string[];
  /** `--instances`: model instances sharing the cores (default: the model's configuration). */
  instances?: number;
  /** Where the exit hook writes its figures. */
  statsFile: string;
}

export interface BatchSummaryLines {
  rowsIn: number;
  rowsOut: number;
  failed: number;
  /** The engine's own figure: rows over the time from describing the model to the merged output. */
  engineRowsPerSecond: number;
}

export interface BatchCliResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Spawn to exit: node start-up, model load, scan, inference, merge. */
  wallSeconds: number;
  summary: BatchSummaryLines | undefined;
  peakRssMb: number;
  /** 'exit' when ru_maxrss came from the hook, 'sampled' when from /proc every 200 ms. */
  peakRssFrom: 'exit' | 'sampled';
  /** CPU time over wall time, % of one core. */
  cpuPercent: number;
  /** Resident memory sampled at 25%, 50% and 75% of the run's wall time, MB: whether it climbs with rows. */
  rssAlongMb: [number, number, number];
  stdout: string;
  stderrTail: string;
}

export interface RunningBatch {
  pid: number;
  /** True once the child has exited. */
  readonly exited: boolean;
  /** SIGINT: the CLI stops after the batches in flight and exits 1. */
  interrupt(): void;
  result: Promise<BatchCliResult>;
}

/** VmHWM (peak so far) and VmRSS (now) of a process, MB; NaN when it cannot be read. */
function memoryMb(pid: number): { hwm: number; rss: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const read = (field: string): number => {
      const match = new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(status);
      return match ? Number(match[1]) / 1024 : Number.NaN;
    };
    return { hwm: read('VmHWM'), rss: read('VmRSS') };
  } catch {
    return { hwm: Number.NaN, rss: Number.NaN };
  }
}

function parseSummary(stdout: string): BatchSummaryLines | undefined {
  const number = (label: string): number | undefined => {
    const match = new RegExp(`^${label}:\\s+(\\d+)`, 'm').exec(stdout);
    return match ? Number(match[1]) : undefined;
  };
  const rowsIn = number('rows in');
  const rowsOut = number('rows out');
  const failed = number('failed rows');
  const rate = number('throughput');
  if (rowsIn === undefined || rowsOut === undefined || failed === undefined || rate === undefined) return undefined;
  return { rowsIn, rowsOut, failed, engineRowsPerSecond: rate };
}

export function batchArgs(options: BatchCliOptions): string[] {
  const args = ['batch', options.model, '--input', options.input, '--output', options.output];
  if (options.repository !== undefined) args.push('--model-repository', options.repository);
  if (options.url !== undefined) args.push('--url', options.url);
  args.push('--batch-size', String(options.batchSize), '--partition-rows', String(options.partitionRows));
  if (options.idColumn !== undefined) args.push('--id-column', options.idColumn);
  for (const map of options.map ?? []) args.push('--map', map);
  if (options.instances !== undefined) args.push('--instances', String(options.instances));
  return args;
}

export function startBatchCli(options: BatchCliOptions): RunningBatch {
  return startWatched([bin, ...batchArgs(options)], options.statsFile);
}

/** The hand-written job (batch-handwritten.ts) on the same file, watched the same way. */
export function startHandwritten(options: { modelPath: string; input: string; output: string; batchSize: number; statsFile: string }): RunningBatch {
  return startWatched([handwritten, options.modelPath, options.input, options.output, String(options.batchSize)], options.statsFile);
}

/** Spawns `node --import <exit hook> ...args` and watches it until it exits. */
function startWatched(args: string[], statsFile: string): RunningBatch {
  const options = { statsFile };
  rmSync(options.statsFile, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', pathToFileURL(exitHook).href, ...args], {
    cwd: repoRoot,
    // Not a terminal: the CLI prints a plain progress line every few seconds instead of a bar.
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MODELPORT_BENCH_EXIT_STATS: options.statsFile },
  });
  const pid = child.pid!;
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  // A benchmark that fails or is interrupted must not leave a job holding the cores.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let sampledPeak = Number.NaN;
  let lastCpu = Number.NaN;
  const rssSamples: Array<[number, number]> = [];
  const sample = (): void => {
    const { hwm, rss } = memoryMb(pid);
    if (!Number.isNaN(hwm) && !(hwm <= sampledPeak)) sampledPeak = hwm;
    if (!Number.isNaN(rss)) rssSamples.push([performance.now() - started, rss]);
    const cpu = cpuSeconds(pid);
    if (!Number.isNaN(cpu)) lastCpu = cpu;
  };
  const timer = setInterval(sample, 200);
  let exited = false;

  const result = (async (): Promise<BatchCliResult> => {
    const [exitCode, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    const wallSeconds = (performance.now() - started) / 1000;
    exited = true;
    clearInterval(timer);
    process.off('exit', killOnExit);
    // stdout may still hold the summary's last chunk.
    if (child.stdout!.readableEnded === false) await once(child.stdout!, 'end').catch(() => undefined);
    let stats: ExitStats | undefined;
    if (existsSync(options.statsFile)) {
      try {
        stats = JSON.parse(readFileSync(options.statsFile, 'utf8')) as ExitStats;
      } catch {
        stats = undefined;
      }
    }
    const cpuTime = stats ? (stats.userCpuUs + stats.systemCpuUs) / 1e6 : lastCpu;
    // The sample nearest each point of the run.
    const along = (fraction: number): number => {
      const at = wallSeconds * 1000 * fraction;
      let best: [number, number] | undefined;
      for (const point of rssSamples) if (best === undefined || Math.abs(point[0] - at) < Math.abs(best[0] - at)) best = point;
      return best?.[1] ?? Number.NaN;
    };
    return {
      exitCode,
      signal,
      wallSeconds,
      summary: parseSummary(stdout),
      peakRssMb: stats ? stats.maxRssKb / 1024 : sampledPeak,
      peakRssFrom: stats ? 'exit' : 'sampled',
      cpuPercent: (cpuTime / wallSeconds) * 100,
      rssAlongMb: [along(0.25), along(0.5), along(0.75)],
      stdout,
      stderrTail: stderr.trim(),
    };
  })();

  return {
    pid,
    get exited() {
      return exited;
    },
    interrupt() {
      if (!exited) child.kill('SIGINT');
    },
    result,
  };
}
