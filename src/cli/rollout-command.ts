/**
 * `modelport rollout start|status|pause|resume|promote|abort` drives a model's progressive
 * rollout (the canary's weight steps up while its error rate and latency stay within the limits);
 * `modelport rollback` sends the traffic back to an earlier version.
 */
import type { Command } from 'commander';
import type { RoutingRecord } from '../core/index.js';
import type { ArmSummary, RolloutView } from '../dataplane/index.js';
import { parseDuration, parsePositiveNumber, parseRate, parsePositiveCount, parseSteps, parseTime, parseVersionRef } from './management-args.js';
import { ManagementClient, clientOptions, formatDuration, formatTime, modelPath, printJson, printLines, type ClientFlags } from './management-client.js';
import { reportFailure } from './exit.js';

interface StartFlags extends ClientFlags {
  to: number | string;
  steps?: number[];
  interval?: number;
  maxErrorRate?: number;
  maxP99Ms?: number;
  maxLatencyRatio?: number;
  minRequests?: number;
  maxOutputDrift?: number;
}

interface ReasonFlags extends ClientFlags {
  reason?: string;
}

interface RollbackFlags extends ReasonFlags {
  to?: number | string;
  at?: string;
}

const TRANSITIONS = {
  pause: 'hold the canary at its current weight',
  resume: 'continue a paused rollout',
  promote: 'send all traffic to the candidate now',
  abort: 'stop the rollout and send all traffic back to the stable version',
} as const;

export function registerRollout(program: Command): void {
  const rollout = program.command('rollout').description("start, inspect and steer a model's progressive rollout");

  clientOptions(
    rollout
      .command('start')
      .description('start a progressive rollout to a version')
      .argument('<model>', 'model name')
      .requiredOption('--to <version>', 'version number or alias to roll out', parseVersionRef)
      .option('--steps <weights>', 'canary weights in percent, e.g. 10,25,50,100', parseSteps)
      .option('--interval <duration>', 'time at each step, e.g. 30s, 5m, 500ms', parseDuration)
      .option('--max-error-rate <rate>', 'largest share of failed canary requests per step (0.01 = 1%)', parseRate)
      .option('--max-p99-ms <ms>', 'largest canary p99 latency', parsePositiveNumber)
      .option('--max-latency-ratio <ratio>', 'largest canary p99 relative to the stable arm', parsePositiveNumber)
      .option('--min-requests <n>', 'fewest canary requests a step needs to pass', parsePositiveCount)
      .option('--max-output-drift <distance>', "largest Jensen–Shannon distance between the canary's and the stable arm's outputs (0.1 = drift alert)", parseRate),
  ).action(async (model: string, flags: StartFlags) => {
    try {
      const body = {
        to: flags.to,
        ...(flags.steps !== undefined ? { steps: flags.steps } : {}),
        ...(flags.interval !== undefined ? { interval_ms: flags.interval } : {}),
        ...(flags.maxErrorRate !== undefined ? { max_error_rate: flags.maxErrorRate } : {}),
        ...(flags.maxP99Ms !== undefined ? { max_p99_ms: flags.maxP99Ms } : {}),
        ...(flags.maxLatencyRatio !== undefined ? { max_latency_ratio: flags.maxLatencyRatio } : {}),
        ...(flags.minRequests !== undefined ? { min_requests: flags.minRequests } : {}),
        ...(flags.maxOutputDrift !== undefined ? { max_output_drift: flags.maxOutputDrift } : {}),
      };
      const view = await new ManagementClient(flags).post<RolloutView>(modelPath(model, 'rollout'), body);
      if (flags.json) return printJson(view);
      printLines(...describeRollout(view));
    } catch (error) {
      reportFailure(error);
    }
  });

  clientOptions(rollout.command('status').description('show the current (or last) rollout').argument('<model>', 'model name')).action(
    async (model: string, flags: ClientFlags) => {
      try {
        const view = await new ManagementClient(flags).get<RolloutView>(modelPath(model, 'rollout'));
        if (flags.json) return printJson(view);
        printLines(...describeRollout(view));
      } catch (error) {
        reportFailure(error);
      }
    },
  );

  for (const [action, description] of Object.entries(TRANSITIONS)) {
    clientOptions(rollout.command(action).description(description).argument('<model>', 'model name').option('--reason <text>', 'why, for the audit log')).action(
      async (model: string, flags: ReasonFlags) => {
        try {
          const view = await new ManagementClient(flags).post<RolloutView>(modelPath(model, 'rollout', action), flags.reason !== undefined ? { reason: flags.reason } : {});
          if (flags.json) return printJson(view);
          printLines(...describeRollout(view));
        } catch (error) {
          reportFailure(error);
        }
      },
    );
  }

  clientOptions(
    program
      .command('rollback')
      .description('serve an earlier version again (default: the one that served before the current one)')
      .argument('<model>', 'model name')
      .option('--to <version>', 'version number or alias to go back to', parseVersionRef)
      .option('--at <time>', 'go back to what served at this time (ISO 8601)', parseTime)
      .option('--reason <text>', 'why, for the audit log'),
  ).action(async (model: string, flags: RollbackFlags) => {
    try {
      const body = {
        ...(flags.to !== undefined ? { to: flags.to } : {}),
        ...(flags.at !== undefined ? { at: flags.at } : {}),
        ...(flags.reason !== undefined ? { reason: flags.reason } : {}),
      };
      const record = await new ManagementClient(flags).post<RoutingRecord>(modelPath(model, 'rollback'), body);
      if (flags.json) return printJson(record);
      const arms = record.spec.arms.map((arm) => `${arm.name} → version ${arm.version} (${arm.weight}%)`).join(', ');
      printLines(`${record.model} now routes ${arms} (revision ${record.revision})`);
    } catch (error) {
      reportFailure(error);
    }
  });
}

export function describeRollout(view: RolloutView): string[] {
  const { policy } = view;
  const limits = [
    `error rate ≤ ${round(policy.maxErrorRate * 100)}%`,
    ...(policy.maxP99Ms !== undefined ? [`p99 ≤ ${policy.maxP99Ms}ms`] : []),
    `p99 ≤ ${policy.maxLatencyRatio}× stable`,
    `≥ ${policy.minRequests} requests per step`,
    ...(policy.maxOutputDrift !== undefined ? [`output drift ≤ ${policy.maxOutputDrift} (Jensen–Shannon)`] : []),
  ];
  const steps = `step ${view.step + 1} of ${policy.steps.length} (${policy.steps.join(', ')}%)`;
  const lines = [
    `rollout ${view.id} of ${view.model}: version ${view.from} → ${view.to}, ${view.status}`,
    view.status === 'running' || view.status === 'paused'
      ? `${steps}: canary at ${view.weight}% since ${formatTime(view.stepStartedAt)}, every ${formatDuration(policy.intervalMs)}`
      : `ended ${formatTime(view.updatedAt)} at ${steps}, canary at ${view.weight}%`,
    `limits: ${limits.join(', ')}`,
  ];
  const analysis = view.lastAnalysis;
  if (analysis) lines.push(`last analysis ${formatTime(analysis.at)}: ${analysis.verdict}; canary ${armFigures(analysis.canary)}; stable ${armFigures(analysis.stable)}`);
  if (view.reason) lines.push(`reason: ${view.reason}`);
  return lines;
}

function armFigures(arm: ArmSummary): string {
  return `${arm.requests} requests, ${arm.errors} errors, p99 ${arm.p99Ms === null ? '-' : `${round(arm.p99Ms)}ms`}`;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
