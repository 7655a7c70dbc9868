/**
 * What happens when a window drifts as a whole: the report goes to an alert webhook, and the
 * retraining hook — a webhook or a local command — is started with it. Both fire at most once per
 * cool-down per model: a drifted model keeps drifting window after window, and a retraining
 * pipeline must not be started every few seconds. The cool-down starts when an alert fires,
 * whether or not delivery then succeeds, for the same reason.
 *
 * Nothing here throws into the caller: `handle` resolves whatever happens, and failures are logged
 * and counted. Webhooks are POSTed with a 5 s timeout and retried twice (network errors, 5xx, 408,
 * 429). A command never sees report values on its command line: it is spawned without a shell from
 * an argv array, or — when configured as one string — as the operator's own `sh -c` line; the
 * report arrives on stdin as JSON, the model and version in MODELPORT_DRIFT_MODEL and
 * MODELPORT_DRIFT_VERSION.
 */
import { spawn } from 'node:child_process';
import { silentLogger, type Logger } from '../../core/index.js';
import type { DriftReport } from './drift-detector.js';

export interface DriftAlertOptions {
  /** POSTed the report JSON on every alert. */
  alertWebhook?: string;
  /** The retraining hook as a webhook: POSTed the report JSON on every alert. */
  retrainWebhook?: string;
  /**
   * The retraining hook as a command: an argv array (spawned directly), or one string run by
   * `/bin/sh -c` as written by the operator. The report is on stdin.
   */
  retrainCommand?: string | readonly string[];
  /** Least time between two alerts of one model (default one hour). */
  cooldownMs?: number;
  /** Per webhook attempt (default 5000). */
  timeoutMs?: number;
  /** Extra attempts after a failed webhook delivery (default 2). */
  retries?: number;
  /** Wait before the first retry, doubled for each next one (default 500). */
  backoffMs?: number;
  /** The command is sent SIGTERM after this long (default ten minutes). */
  commandTimeoutMs?: number;
  now?: () => number;
  logger?: Logger;
}

export type AlertAction = 'alert-webhook' | 'retrain-webhook' | 'retrain-command';

export interface DriftAlertOutcome {
  /** False when the report did not drift or the model is in its cool-down. */
  fired: boolean;
  /** Per configured action: whether it succeeded. */
  results: Partial<Record<AlertAction, boolean>>;
}

type AlertableReport = Pick<DriftReport, 'model' | 'version' | 'datasetDrift'>;

const OUTPUT_TAIL = 2048;

export class DriftAlerts {
  readonly #options: DriftAlertOptions;
  readonly #cooldownMs: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  readonly #lastFired = new Map<string, number>();
  readonly #counts = new Map<string, { labels: Record<string, string>; value: number }>();
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(options: DriftAlertOptions) {
    this.#options = options;
    this.#cooldownMs = options.cooldownMs ?? 3_600_000;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? silentLogger;
    const command = options.retrainCommand;
    if (command !== undefined && (typeof command === 'string' ? command.trim() === '' : command.length === 0)) throw new Error('retrainCommand is empty');
    for (const url of [options.alertWebhook, options.retrainWebhook]) if (url !== undefined) new URL(url);
  }

  /** Whether anything is configured to happen on an alert. */
  get enabled(): boolean {
    return Boolean(this.#options.alertWebhook || this.#options.retrainWebhook || this.#options.retrainCommand);
  }

  /**
   * Acts on a report: when its dataset drifted and the model is out of its cool-down, runs every
   * configured action. Never rejects; use as `onReport: (r) => void alerts.handle(r)`.
   */
  handle(report: AlertableReport): Promise<DriftAlertOutcome> {
    if (!report.datasetDrift || !this.enabled) return Promise.resolve({ fired: false, results: {} });
    const now = this.#now();
    const last = this.#lastFired.get(report.model);
    if (last !== undefined && now - last < this.#cooldownMs) {
      this.#count(report.model, 'suppressed', 'cooldown');
      return Promise.resolve({ fired: false, results: {} });
    }
    // Claimed before any await, so reports arriving meanwhile see the cool-down.
    this.#lastFired.set(report.model, now);
    this.#logger.warn({ model: report.model, version: report.version }, 'data drift detected: sending drift alert');
    const run = this.#fire(report);
    this.#inFlight.add(run);
    void run.finally(() => this.#inFlight.delete(run));
    return run;
  }

  /** Counts by model, action and outcome, for `modelport_drift_alerts_total`. */
  samples(): Array<{ labels: Record<string, string>; value: number }> {
    return [...this.#counts.values()].map((c) => ({ labels: { ...c.labels }, value: c.value }));
  }

  /** Resolves when every alert started so far has finished. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  async #fire(report: AlertableReport): Promise<DriftAlertOutcome> {
    const body = JSON.stringify(report);
    const tasks: Array<Promise<[AlertAction, boolean]>> = [];
    const { alertWebhook, retrainWebhook, retrainCommand } = this.#options;
    if (alertWebhook) tasks.push(this.#post(alertWebhook, body, 'drift-alert').then((ok) => ['alert-webhook', ok]));
    if (retrainWebhook) tasks.push(this.#post(retrainWebhook, body, 'retrain').then((ok) => ['retrain-webhook', ok]));
    if (retrainCommand) tasks.push(this.#runCommand(retrainCommand, body, report).then((ok) => ['retrain-command', ok]));
    const results: DriftAlertOutcome['results'] = {};
    for (const [action, ok] of await Promise.all(tasks)) {
      results[action] = ok;
      this.#count(report.model, action, ok ? 'ok' : 'failed');
    }
    return { fired: true, results };
  }

  #count(model: string, action: string, outcome: string): void {
    const key = `${model}\u0000${action}\u0000${outcome}`;
    const entry = this.#counts.get(key);
    if (entry) entry.value += 1;
    else this.#counts.set(key, { labels: { model, action, outcome }, value: 1 });
  }

  async #post(url: string, body: string, event: string): Promise<boolean> {
    const attempts = 1 + (this.#options.retries ?? 2);
    const backoffMs = this.#options.backoffMs ?? 500;
    let lastError = '';
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)));
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-modelport-event': event },
          body,
          signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
        });
        await response.arrayBuffer();
        if (response.ok) return true;
        lastError = `HTTP ${response.status}`;
        // Other client errors will not get better by retrying.
        if (response.status < 500 && response.status !== 408 && response.status !== 429) break;
      } catch (error) {
        lastError = (error as Error).message;
      }
    }
    this.#logger.error({ url, event, error: lastError }, 'drift webhook failed');
    return false;
  }

  #runCommand(command: string | readonly string[], body: string, report: AlertableReport): Promise<boolean> {
    const [file, args] = typeof command === 'string' ? ['/bin/sh', ['-c', command]] : [command[0]!, command.slice(1)];
    return new Promise((resolve) => {
      let settled = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (ok: boolean, details: Record<string, unknown>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (ok) this.#logger.info({ command: file, ...details }, 'retraining command finished');
        else this.#logger.error({ command: file, ...details }, 'retraining command failed');
        resolve(ok);
      };
      let output = '';
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
      };
      let child: ReturnType<typeof spawn>;
      try {
        child = spawn(file, args, {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: { ...process.env, MODELPORT_DRIFT_MODEL: report.model, MODELPORT_DRIFT_VERSION: report.version },
        });
      } catch (error) {
        finish(false, { error: (error as Error).message });
        return;
      }
      timer = setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }, this.#options.commandTimeoutMs ?? 600_000);
      timer.unref();
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      child.on('error', (error) => finish(false, { error: error.message }));
      child.on('close', (code, signal) => finish(code === 0, { code, signal, output }));
      // A command that does not read its stdin closes the pipe early; that is not a failure.
      child.stdin!.on('error', () => {});
      child.stdin!.end(body);
    });
  }
}
