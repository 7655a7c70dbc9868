/**
 * The peer benchmark's markdown: one table of every server, encoding and concurrency level, the
 * Modelport / MLServer ratios the goal is judged on, and how the run was made. It is the `peers`
 * section of bench/README.md (readme-sections.ts).
 */
import type { PerfResult } from './perf-analyzer.js';

export interface PeerRow {
  server: string;
  model: string;
  variant: string;
  /** Measured with the command every server shares (REST, JSON). */
  common: boolean;
  concurrency: number;
  result: PerfResult | undefined;
  error: string | undefined;
  cpuPercent: number;
  peakRssMb: number;
}

export interface PeerRun {
  rows: PeerRow[];
  machine: string;
  command: string;
  mlserverBatching: string;
  versions: string;
  durationSeconds: number;
}

const GOAL_RATIO = 3;

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

function throughput(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)}k` : value.toFixed(0);
}

function row(r: PeerRow): string {
  const result = r.result;
  const cells = result
    ? [throughput(result.throughput) + (result.unstable ? ' *' : ''), fixed(result.p50Ms, 2), fixed(result.p99Ms, 2)]
    : [`failed: ${r.error ?? '?'}`, '—', '—'];
  return `| ${r.server} | ${r.variant} | ${r.model} | ${r.concurrency} | ${cells.join(' | ')} | ${fixed(r.cpuPercent, 0)} | ${fixed(r.peakRssMb, 0)} |`;
}

function find(rows: PeerRow[], server: string, model: string, variant: string, concurrency: number): PerfResult | undefined {
  return rows.find((r) => r.server === server && r.model === model && r.variant === variant && r.concurrency === concurrency)?.result;
}

function ratios(run: PeerRun): string[] {
  const lines: string[] = [];
  const models = [...new Set(run.rows.map((r) => r.model))];
  for (const model of models) {
    for (const concurrency of [...new Set(run.rows.map((r) => r.concurrency))].filter((c) => c > 1)) {
      const mlserver = find(run.rows, 'MLServer', model, 'REST, JSON', concurrency);
      if (!mlserver) continue;
      for (const variant of ['REST, JSON', 'REST, binary', 'gRPC']) {
        const ours = find(run.rows, 'Modelport', model, variant, concurrency);
        if (!ours) continue;
        const ratio = ours.throughput / mlserver.throughput;
        const p99 = ours.p99Ms < mlserver.p99Ms ? 'lower' : 'higher';
        const verdict = ratio >= GOAL_RATIO && ours.p99Ms < mlserver.p99Ms ? 'yes' : 'no';
        lines.push(
          `| ${model} | ${concurrency} | Modelport ${variant} | **${ratio.toFixed(2)}×** | ${fixed(ours.p99Ms, 2)} vs ${fixed(mlserver.p99Ms, 2)} ms (${p99}) | ${verdict} |`,
        );
      }
    }
  }
  return lines;
}

export function renderPeerReport(run: PeerRun): string {
  const lines = [
    '## Against peers',
    '',
    `\`npm run bench:peers\` on ${run.machine}; ${run.versions}. The servers ran one at a time on the same`,
    'machine as perf_analyzer (client and server share the cores). CPU is the server process tree as a',
    'percentage of one core (200% = both cores); RSS is its peak during the level.',
    '',
    'Common command (every server):',
    '',
    '```',
    run.command,
    '```',
    '',
    'Modelport is also shown with perf_analyzer\'s default binary tensors and over gRPC. MLServer:',
    `custom onnxruntime runtime (bench/peers/mlserver_runtime.py), adaptive batching ${run.mlserverBatching};`,
    'its gRPC service has no ModelConfig RPC, which perf_analyzer requires, so it is measured over REST.',
    'FastAPI: one uvicorn worker, a synchronous handler, no batching (bench/peers/fastapi_app.py).',
    '`*` marks a level perf_analyzer could not stabilise within 25% and measured with the check relaxed.',
    '',
    '| server | protocol, tensors | model | concurrency | infer/s | p50 ms | p99 ms | server CPU % | peak RSS MB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...run.rows.map(row),
    '',
    `Modelport against MLServer. The goal, on \`mlp\` at concurrency 16 and 64: ≥ ${GOAL_RATIO}× MLServer's throughput with a lower p99.`,
    '',
    `| model | concurrency | Modelport | throughput ratio | p99, Modelport vs MLServer | ≥ ${GOAL_RATIO}× and lower p99 |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...ratios(run),
    '',
    `Run time: ${(run.durationSeconds / 60).toFixed(1)} min.`,
  ];
  return lines.join('\n');
}
