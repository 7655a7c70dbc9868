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
  /** perf_analyzer's CPU during the level, % of one core. */
  clientCpuPercent: number;
  /** CPU used by processes outside the benchmark during the level, % of one core. */
  otherCpuPercent: number;
}

export interface AnswerAgreement {
  server: string;
  reference: string;
  model: string;
  maxAbsDifference: number;
}

export interface PeerRun {
  rows: PeerRow[];
  machine: string;
  command: string;
  /** MLServer's batching and worker settings. */
  mlserverSettings: string;
  /** The Python peers' onnxruntime session settings. */
  ortSettings: string;
  versions: string;
  answers: AnswerAgreement[];
  durationSeconds: number;
}

const GOAL_RATIO = 3;
/** Other processes' CPU (% of one core) above which a level is called out as disturbed. */
export const OTHER_LOAD_WARNING = 10;

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '—';
}

function throughput(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)}k` : value.toFixed(0);
}

function otherLoad(rows: PeerRow[]): string {
  const worst = Math.max(0, ...rows.map((r) => r.otherCpuPercent));
  const disturbed = rows.filter((r) => r.otherCpuPercent > OTHER_LOAD_WARNING);
  const list = disturbed.map((r) => `${r.server} ${r.variant} ${r.model} c${r.concurrency} (${r.otherCpuPercent.toFixed(0)}%)`).join(', ');
  return `Other processes on the machine used at most ${worst.toFixed(0)}% of one core during any level` + (disturbed.length ? `; above ${OTHER_LOAD_WARNING}%: ${list}.` : '.');
}

function answers(run: PeerRun): string {
  if (run.answers.length === 0) return '';
  const parts = run.answers.map((a) => `${a.server} ${a.model} ${Number.isNaN(a.maxAbsDifference) ? 'no answer' : a.maxAbsDifference.toExponential(1)}`);
  return `Before measuring, each server answered one fixed JSON request per model; largest absolute difference from ${run.answers[0]!.reference}'s outputs: ${parts.join(', ')}.`;
}

function row(r: PeerRow): string {
  const result = r.result;
  const cells = result
    ? [throughput(result.throughput) + (result.unstable ? ' *' : ''), fixed(result.p50Ms, 2), fixed(result.p99Ms, 2)]
    : [`failed: ${r.error ?? '?'}`, '—', '—'];
  return `| ${r.server} | ${r.variant} | ${r.model} | ${r.concurrency} | ${cells.join(' | ')} | ${fixed(r.cpuPercent, 0)} | ${fixed(r.peakRssMb, 0)} | ${fixed(r.clientCpuPercent, 0)} |`;
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
    'machine as perf_analyzer (client and server share the cores). Server CPU is its process tree as a',
    'percentage of one core (200% = both cores), RSS its peak during the level; client CPU is perf_analyzer\'s.',
    '',
    'Common command (every server):',
    '',
    '```',
    run.command,
    '```',
    '',
    'Modelport (`modelport serve` on examples/models, default settings) is also shown with perf_analyzer\'s',
    'default binary tensors and over gRPC.',
    '',
    `- MLServer: a custom onnxruntime runtime (bench/peers/mlserver_runtime.py), ${run.mlserverSettings}.`,
    '  Its REST API has no binary tensor extension and its gRPC service no ModelConfig RPC, which',
    '  perf_analyzer calls before it sends a request, so it is measured over REST with JSON tensors.',
    '- FastAPI: one uvicorn worker (httptools, uvloop), a synchronous handler on FastAPI\'s thread pool,',
    '  no batching (bench/peers/fastapi_app.py).',
    `- Both Python peers run onnxruntime with ${run.ortSettings}: the fastest settings tried on this`,
    '  machine (bench/peers/peer-bench.ts lists them; PEER_MLSERVER_WORKERS, PEER_ORT_THREADS and',
    '  PEER_ORT_SPINNING change them).',
    '',
    '`*` marks a level perf_analyzer could not stabilise within 25% and measured with the check relaxed.',
    '',
    '| server | protocol, tensors | model | concurrency | infer/s | p50 ms | p99 ms | server CPU % | peak RSS MB | client CPU % |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...run.rows.map(row),
    '',
    `Modelport against MLServer. The goal, on \`mlp\` at concurrency 16 and 64: ≥ ${GOAL_RATIO}× MLServer's throughput with a lower p99.`,
    '',
    `| model | concurrency | Modelport | throughput ratio | p99, Modelport vs MLServer | ≥ ${GOAL_RATIO}× and lower p99 |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...ratios(run),
    '',
    [answers(run), otherLoad(run.rows), `Run time: ${(run.durationSeconds / 60).toFixed(1)} min.`].filter(Boolean).join(' '),
  ];
  return lines.join('\n');
}
