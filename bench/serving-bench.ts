/**
 * `npm run bench`: measures Modelport against two baselines in one run on this machine and writes
 * bench/README.md. For each model it times onnxruntime-node in-process (baseline A), then drives
 * `modelport serve` and a bare node:http server answering Modelport's own bytes (baseline B) with
 * the same closed-loop client at each concurrency, binary and JSON. With BENCH_PROFILE=1 it runs
 * the CPU-profiling run of profile-server.ts instead. bench-config.ts lists the settings.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareExamples } from '../scripts/prepare-examples.js';
import { readBenchConfig, type BenchConfig } from './bench-config.js';
import { decodeAnswer, encodeAnswer, maxAbsDiff, modelFile, type HttpAnswer } from './bench-payloads.js';
import { describeMachine, renderReport, type BenchRun, type ModelResult } from './bench-report.js';
import { startCannedServer, type CannedResponse } from './canned-server.js';
import { measureInProcess } from './in-process-baseline.js';
import { measureLevel, payloadFor } from './measure-level.js';
import { examplesRepository, httpExchange, repoRoot, startModelport } from './modelport-process.js';
import { profileServer } from './profile-server.js';
import { markedSections } from './readme-sections.js';

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** First line of a failure plus the line naming the underlying error, for the report's one-liner. */
function summariseError(message: string): string {
  const lines = message.split('\n').map((line) => line.trim()).filter(Boolean);
  const cause = lines.slice(1).find((line) => /error/i.test(line) && !line.startsWith('at '));
  return cause ? `${lines[0]} ${cause}` : (lines[0] ?? 'unknown error');
}

function estimateSeconds(config: BenchConfig): number {
  const levels = config.models.length * config.encodings.length * config.concurrencies.length;
  const window = (config.warmupMs + config.measureMs) / 1000 + 0.5;
  const inProcess = config.models.length * config.threadCounts.length * 9 * (config.inProcessBudgetMs * 1.3) / 1000;
  return Math.round(2 * levels * window + inProcess + 10);
}

async function main(): Promise<void> {
  const config = readBenchConfig();
  if (config.profile) {
    await profileServer(config);
    return;
  }
  const started = performance.now();
  await prepareExamples(examplesRepository);
  const machine = describeMachine(repoRoot);
  log(`Modelport benchmark: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}; about ${estimateSeconds(config)} s`);

  const results: ModelResult[] = [];
  for (const model of config.models) {
    log(`in-process onnxruntime-node: ${model.name} (threads ${config.threadCounts.join(', ')})`);
    const inProcess = await measureInProcess(model, modelFile(examplesRepository, model), config.threadCounts, config.inProcessBudgetMs);
    log(`  best ${Math.round(inProcess.best.itemsPerSecond)} items/s at batch ${inProcess.best.batch} (${inProcess.best.threads} threads); batch-1 p50 ${inProcess.batch1.p50Ms.toFixed(3)} ms`);
    results.push({
      model,
      inProcess,
      requestBytes: { binary: payloadFor(model, 'binary').body.length, json: payloadFor(model, 'json').body.length },
      answerBytes: {},
      cannedFrom: 'bench',
      outputDiff: {},
      baseline: [],
      modelport: [],
    });
  }

  const run: BenchRun = { machine, config, models: results, durationSeconds: 0 };
  const answers = new Map<string, HttpAnswer>();
  log('modelport serve');
  try {
    const server = await startModelport({ models: config.models.map((m) => m.name) });
    try {
      // Modelport's answers are checked against the in-process output and become the baseline's canned bytes.
      for (const result of results) {
        for (const encoding of config.encodings) {
          const payload = payloadFor(result.model, encoding);
          const answer = await httpExchange(server.port, 'POST', payload.path, payload.headers, payload.body);
          if (answer.status !== 200) throw new Error(`${result.model.name} ${encoding} infer answered ${answer.status}: ${answer.body.toString('utf8', 0, 300)}`);
          answers.set(`${result.model.name} ${encoding}`, answer);
          result.answerBytes[encoding] = answer.body.length;
          result.outputDiff[encoding] = maxAbsDiff(decodeAnswer(answer, result.model.outputName), result.inProcess.batch1Output);
        }
        result.cannedFrom = 'modelport';
      }
      for (const result of results) {
        for (const encoding of config.encodings) {
          for (const concurrency of config.concurrencies) {
            result.modelport.push(await measureLevel(config, server.port, server.pid, result.model, encoding, concurrency, true));
          }
        }
      }
    } finally {
      run.modelportExit = await server.stop();
    }
  } catch (error) {
    run.modelportError = summariseError((error as Error).message);
    log(`  Modelport not measured: ${(error as Error).message}`);
  }

  const canned: CannedResponse[] = [];
  for (const result of results) {
    for (const encoding of config.encodings) {
      const answer = answers.get(`${result.model.name} ${encoding}`) ?? encodeAnswer(result.model, encoding, result.inProcess.batch1Output, 1);
      if (!answers.has(`${result.model.name} ${encoding}`)) result.cannedFrom = 'bench';
      const headers: Record<string, string> = {};
      for (const name of ['content-type', 'inference-header-content-length']) if (answer.headers[name] !== undefined) headers[name] = answer.headers[name];
      canned.push({ path: payloadFor(result.model, encoding).path, binary: encoding === 'binary', headers, bodyBase64: answer.body.toString('base64') });
    }
  }
  log('bare node:http baseline');
  const baseline = await startCannedServer(canned);
  try {
    for (const result of results) {
      for (const encoding of config.encodings) {
        for (const concurrency of config.concurrencies) {
          result.baseline.push(await measureLevel(config, baseline.port, baseline.pid, result.model, encoding, concurrency, false));
        }
      }
    }
  } finally {
    await baseline.stop();
  }

  run.durationSeconds = (performance.now() - started) / 1000;
  const report = renderReport(run);
  process.stdout.write(`${report}\n`);
  const file = join(repoRoot, 'bench', 'README.md');
  // The other benchmarks' sections are theirs; keep them.
  const kept = existsSync(file) ? markedSections(readFileSync(file, 'utf8')) : [];
  writeFileSync(file, [report, ...kept].join('\n\n') + (kept.length ? '\n' : ''));
  log(`wrote ${file}`);
  const failed = results.some((r) => [...r.baseline, ...r.modelport].some((row) => row.load.errors > 0)) || run.modelportError !== undefined;
  if (failed) process.exitCode = 1;
}

main().catch((error: unknown) => {
  log(String((error as Error)?.stack ?? error));
  process.exit(1);
});
