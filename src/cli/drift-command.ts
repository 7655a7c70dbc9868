/**
 * `modelport profile` builds a reference profile of a model version's features from a JSONL file
 * of in-distribution data (or the payload log of a period that was good); `modelport drift`
 * compares a JSONL file — typically a payload log — window by window against such a profile and
 * prints each window's verdict with its most drifted features (or the full reports as JSON).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { FeatureDrift, ReferenceProfile } from '../monitoring/index.js';
import { EXIT_USAGE, reportFailure } from './exit.js';
import { readFeatureRows } from './feature-rows.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`expected a positive integer, got '${value}'`);
  return n;
}

export function registerDrift(program: Command): void {
  program
    .command('profile')
    .description('build a drift reference profile from a JSONL file of in-distribution inputs (arrays, input objects or payload-log events)')
    .argument('<model>', 'model name')
    .requiredOption('--data <file.jsonl>', 'reference data')
    .requiredOption('--out <profile.json>', 'where to write the profile')
    .option('--model-version <version>', 'version the profile describes', '1')
    .action(async (model: string, flags: { data: string; out: string; modelVersion: string }) => {
      try {
        const { buildProfile } = await import('../monitoring/index.js');
        const rows = await readFeatureRows(flags.data);
        const outputs = rows.outputs.length === rows.inputs.length ? rows.outputs : undefined;
        const profile = buildProfile(
          rows.inputs,
          { model, version: flags.modelVersion, inputNames: rows.inputNames, ...(outputs ? { outputNames: rows.outputNames } : {}) },
          outputs,
        );
        await writeFile(flags.out, `${JSON.stringify(profile)}\n`);
        process.stdout.write(`profile of ${model} v${flags.modelVersion}: ${profile.rows} rows, ${profile.inputs.length} input features, ${profile.outputs.length} output features -> ${flags.out}\n`);
      } catch (error) {
        reportFailure(error);
      }
    });

  program
    .command('drift')
    .description('compare a JSONL file (e.g. a payload log) window by window with a reference profile')
    .requiredOption('--profile <profile.json>', 'from modelport profile')
    .requiredOption('--data <file.jsonl>', 'live data: arrays, input objects or payload-log events')
    .option('--window <rows>', 'rows per window (default 500)', '500')
    .option('--json', 'print the full reports as JSON')
    .action(async (flags: { profile: string; data: string; window: string; json?: boolean }) => {
      let window: number;
      try {
        window = positiveInt(flags.window);
      } catch (error) {
        reportFailure(error, EXIT_USAGE);
        return;
      }
      try {
        const { detectDrift } = await import('../monitoring/index.js');
        const profile = JSON.parse(await readFile(flags.profile, 'utf8')) as ReferenceProfile;
        const rows = await readFeatureRows(flags.data);
        if (rows.inputNames.length !== profile.inputs.length) {
          throw new Error(`${flags.data} has ${rows.inputNames.length} input features; the profile has ${profile.inputs.length}`);
        }
        const reports = [];
        for (let start = 0; start + window <= rows.inputs.length; start += window) {
          const outputs = rows.outputs.length === rows.inputs.length ? rows.outputs.slice(start, start + window) : [];
          reports.push(detectDrift(profile, rows.inputs.slice(start, start + window), outputs));
        }
        if (reports.length === 0) throw new Error(`${flags.data} has ${rows.inputs.length} rows, fewer than one window of ${window}`);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
          return;
        }
        reports.forEach((report, i) => {
          const top = [...report.inputs, ...report.outputs].filter((f) => f.drifted).sort(byStrength).slice(0, 5);
          process.stdout.write(
            `window ${i + 1} (rows ${i * window + 1}-${(i + 1) * window}): ${report.datasetDrift ? 'DRIFT' : 'no drift'}, ` +
              `${(report.driftedShare * 100).toFixed(1)}% of input features drifted` +
              (top.length ? `; most: ${top.map(describe).join(', ')}` : '') +
              '\n',
          );
        });
      } catch (error) {
        reportFailure(error);
      }
    });
}

function byStrength(a: FeatureDrift, b: FeatureDrift): number {
  return (a.pValue ?? 1 - a.score) - (b.pValue ?? 1 - b.score);
}

function describe(f: FeatureDrift): string {
  if (f.method === 'jensen-shannon') return `${f.name} (JS ${f.score.toFixed(3)})`;
  return `${f.name} (${f.method} p=${(f.pValue ?? 0).toExponential(1)}${f.psi !== undefined ? `, PSI ${f.psi.toFixed(2)}` : ''})`;
}
