/**
 * The verdict of one rollout step's analysis: whether the canary breached the policy (roll back),
 * passed the interval (advance to the next weight) or needs more time or traffic (wait), with a
 * reason an operator can read. Also the default rollout policy and validation of a requested one.
 */
import { LATENCY_BUCKETS_MS, mpError, type RolloutPolicy } from '../core/index.js';
import { percentileMs, type ArmCounts } from './arm-window.js';

/**
 * A canary p99 must also be this much slower than stable's to breach the latency ratio: at small
 * latencies one bucket apart is already a large ratio (2 ms vs 1 ms) and would flap.
 */
export const MIN_LATENCY_DIFFERENCE_MS = 5;

export type Verdict = 'breach' | 'pass' | 'wait';

export interface JudgeInput {
  policy: RolloutPolicy;
  canary: ArmCounts;
  stable: ArmCounts;
  /** Whether the step's interval is over: only then can it pass. */
  intervalElapsed: boolean;
}

export interface Judgement {
  verdict: Verdict;
  reason: string;
  /** Share of failed requests, null when the arm had none. */
  canaryErrorRate: number | null;
  stableErrorRate: number | null;
  canaryP99Ms: number | null;
  stableP99Ms: number | null;
}

/**
 * Judges one interval. A breach is declared as soon as the canary has policy.minRequests requests,
 * without waiting for the interval to end: a bad canary should serve as little as possible.
 */
export function judgeInterval(input: JudgeInput): Judgement {
  const { policy, canary, stable } = input;
  const canaryErrorRate = canary.requests > 0 ? canary.errors / canary.requests : null;
  const stableErrorRate = stable.requests > 0 ? stable.errors / stable.requests : null;
  const canaryP99Ms = percentileMs(canary.latencyBuckets, 0.99);
  const stableP99Ms = percentileMs(stable.latencyBuckets, 0.99);
  const figures = { canaryErrorRate, stableErrorRate, canaryP99Ms, stableP99Ms };
  const verdict = (kind: Verdict, reason: string): Judgement => ({ verdict: kind, reason, ...figures });

  if (canary.requests < policy.minRequests) {
    return verdict('wait', `only ${canary.requests} canary request${canary.requests === 1 ? '' : 's'}, ${policy.minRequests} needed`);
  }
  const errorRate = canaryErrorRate ?? 0;
  if (errorRate > policy.maxErrorRate) {
    return verdict('breach', `canary error rate ${percent(errorRate)} (${canary.errors} of ${canary.requests}) exceeds the limit ${percent(policy.maxErrorRate)}`);
  }
  if (policy.maxP99Ms !== undefined && canaryP99Ms !== null && canaryP99Ms > policy.maxP99Ms) {
    return verdict('breach', `canary p99 latency ${ms(canaryP99Ms)} exceeds the limit ${ms(policy.maxP99Ms)}`);
  }
  if (
    stable.requests >= policy.minRequests && canaryP99Ms !== null && stableP99Ms !== null &&
    canaryP99Ms > stableP99Ms * policy.maxLatencyRatio && canaryP99Ms - stableP99Ms >= MIN_LATENCY_DIFFERENCE_MS
  ) {
    return verdict('breach', `canary p99 latency ${ms(canaryP99Ms)} is more than ${policy.maxLatencyRatio}× the stable arm's ${ms(stableP99Ms)}`);
  }
  if (!input.intervalElapsed) return verdict('wait', 'interval not over');
  const stableP99 = stableP99Ms === null ? '' : ` (stable ${ms(stableP99Ms)})`;
  const p99 = canaryP99Ms === null ? '' : `, p99 ${ms(canaryP99Ms)}${stableP99}`;
  return verdict('pass', `canary error rate ${percent(errorRate)} (${canary.errors} of ${canary.requests})${p99} within the limits`);
}

/** A fresh copy of the policy a rollout gets when it asks for nothing else. */
export function defaultRolloutPolicy(): RolloutPolicy {
  return { steps: [10, 25, 50, 100], intervalMs: 30_000, maxErrorRate: 0.01, maxLatencyRatio: 2, minRequests: 50 };
}

const POLICY_KEYS = ['steps', 'intervalMs', 'maxErrorRate', 'maxP99Ms', 'maxLatencyRatio', 'minRequests', 'maxOutputDrift'] as const;
/** Past the last bucket bound the histograms cannot tell latencies apart, so no limit can be checked there. */
const MAX_P99_LIMIT_MS = LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1];

/**
 * Completes a requested (untrusted, possibly partial) policy with the defaults and checks it;
 * throws MP_ERR_ROLLOUT_INVALID naming the field, what it was and what is expected.
 * A null maxP99Ms (as JSON clients send to clear it) means no limit.
 */
export function validateRolloutPolicy(input: Partial<RolloutPolicy>): RolloutPolicy {
  const invalid = (message: string) => mpError('MP_ERR_ROLLOUT_INVALID', `rollout policy: ${message}`);
  const raw: unknown = input ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(`expected an object, got ${show(raw)}`);
  const given = raw as Record<string, unknown>;
  const unknown = Object.keys(given).filter((key) => !(POLICY_KEYS as readonly string[]).includes(key));
  if (unknown.length > 0) {
    throw invalid(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; expected ${POLICY_KEYS.join(', ')}`);
  }
  const defaults = defaultRolloutPolicy();
  const pick = (key: keyof RolloutPolicy): unknown => (given[key] === undefined ? defaults[key] : given[key]);

  const steps = pick('steps');
  if (!Array.isArray(steps) || steps.length === 0) throw invalid(`steps must be a non-empty array of canary weights in percent, got ${show(steps)}`);
  steps.forEach((step: unknown, index) => {
    if (typeof step !== 'number' || !Number.isInteger(step) || step <= 0 || step > 100) {
      throw invalid(`steps[${index}] must be an integer above 0 and at most 100, got ${show(step)}`);
    }
    if (index > 0 && step <= (steps[index - 1] as number)) {
      throw invalid(`steps must be strictly ascending, got ${steps[index - 1]} then ${step}`);
    }
  });
  if (steps[steps.length - 1] !== 100) throw invalid(`the last step must be 100 (the canary takes all traffic), got ${steps[steps.length - 1]}`);

  const intervalMs = pick('intervalMs');
  if (!isFiniteNumber(intervalMs) || intervalMs < 100) throw invalid(`intervalMs must be a number of milliseconds ≥ 100, got ${show(intervalMs)}`);
  const maxErrorRate = pick('maxErrorRate');
  if (!isFiniteNumber(maxErrorRate) || maxErrorRate < 0 || maxErrorRate > 1) {
    throw invalid(`maxErrorRate must be a fraction from 0 to 1 (0.01 = 1%), got ${show(maxErrorRate)}`);
  }
  const maxLatencyRatio = pick('maxLatencyRatio');
  if (!isFiniteNumber(maxLatencyRatio) || maxLatencyRatio < 1) throw invalid(`maxLatencyRatio must be a number ≥ 1, got ${show(maxLatencyRatio)}`);
  const minRequests = pick('minRequests');
  if (typeof minRequests !== 'number' || !Number.isSafeInteger(minRequests) || minRequests < 1) {
    throw invalid(`minRequests must be an integer ≥ 1, got ${show(minRequests)}`);
  }

  const policy: RolloutPolicy = { steps: [...steps] as number[], intervalMs, maxErrorRate, maxLatencyRatio, minRequests };
  const maxP99Ms = given.maxP99Ms;
  if (maxP99Ms !== undefined && maxP99Ms !== null) {
    if (!isFiniteNumber(maxP99Ms) || maxP99Ms <= 0 || maxP99Ms > MAX_P99_LIMIT_MS) {
      throw invalid(`maxP99Ms must be a number of milliseconds above 0 and at most ${MAX_P99_LIMIT_MS} (where the latency buckets end), got ${show(maxP99Ms)}`);
    }
    policy.maxP99Ms = maxP99Ms;
  }
  const maxOutputDrift = given.maxOutputDrift;
  if (maxOutputDrift !== undefined && maxOutputDrift !== null) {
    if (!isFiniteNumber(maxOutputDrift) || maxOutputDrift <= 0 || maxOutputDrift > 1) {
      throw invalid(`maxOutputDrift must be a Jensen–Shannon distance above 0 and at most 1 (0.1 is the drift alert threshold), got ${show(maxOutputDrift)}`);
    }
    policy.maxOutputDrift = maxOutputDrift;
  }
  return policy;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** 0.125 → "12.5%", 0.01 → "1%": at most two decimals. */
function percent(rate: number): string {
  return `${Number((rate * 100).toFixed(2))}%`;
}

function ms(value: number): string {
  return `${Number(value.toFixed(3))} ms`;
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}
