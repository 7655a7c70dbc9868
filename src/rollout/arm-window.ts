/**
 * Per-arm request counts for the rollout analysis and the routing view: requests, errors and a
 * latency histogram over the shared LATENCY_BUCKETS_MS, counted in memory by each server process
 * and merged across replicas. Histograms, not raw latencies, so memory stays fixed and samples add.
 */
import { LATENCY_BUCKETS_MS, type ArmSample } from '../core/index.js';

export interface ArmCounts {
  requests: number;
  errors: number;
  /** One count per LATENCY_BUCKETS_MS bound (latency ≤ bound), plus a last overflow bucket. */
  latencyBuckets: number[];
}

/** Buckets per histogram: one per bound and the overflow bucket. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKETS_MS.length + 1;

/**
 * What percentileMs reports for a quantile in the overflow bucket: twice the last bound. The true
 * value is only known to be above that bound; a finite stand-in survives JSON (Infinity would turn
 * into null, which reads as "no requests"), and it is larger than any limit a policy may set
 * (validateRolloutPolicy caps maxP99Ms at the last bound).
 */
export const OVERFLOW_LATENCY_MS = LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1] * 2;

export function emptyArmCounts(): ArmCounts {
  return { requests: 0, errors: 0, latencyBuckets: new Array<number>(LATENCY_BUCKET_COUNT).fill(0) };
}

/** Index of the bucket `latencyMs` is counted in; NaN and values past the last bound go to overflow. */
export function latencyBucketIndex(latencyMs: number): number {
  if (!(latencyMs <= LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1])) return LATENCY_BUCKETS_MS.length;
  // Binary search for the first bound ≥ latency: ~5 comparisons over 21 bounds.
  let low = 0;
  let high = LATENCY_BUCKETS_MS.length - 1;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (latencyMs <= LATENCY_BUCKETS_MS[mid]!) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** Counts of every arm seen since the last reset, as one process observes them. */
export class ArmCounters {
  private readonly arms = new Map<string, ArmCounts>();

  record(arm: string, ok: boolean, latencyMs: number): void {
    let counts = this.arms.get(arm);
    if (!counts) {
      counts = emptyArmCounts();
      this.arms.set(arm, counts);
    }
    counts.requests++;
    if (!ok) counts.errors++;
    counts.latencyBuckets[latencyBucketIndex(latencyMs)]!++;
  }

  /** The counts of one arm (a copy; zeros when the arm has seen nothing). */
  counts(arm: string): ArmCounts {
    const counts = this.arms.get(arm);
    return counts ? copyCounts(counts) : emptyArmCounts();
  }

  /** A copy of every arm's counts: the caller may keep or send it while counting goes on. */
  snapshot(): Map<string, ArmCounts> {
    const copy = new Map<string, ArmCounts>();
    for (const [arm, counts] of this.arms) copy.set(arm, copyCounts(counts));
    return copy;
  }

  reset(): void {
    this.arms.clear();
  }
}

/**
 * Sums samples per arm across replicas. A sample with more buckets than this layout (a replica on
 * another version) has its extra buckets folded into overflow rather than dropped.
 */
export function mergeSamples(samples: readonly ArmSample[]): Map<string, ArmCounts> {
  const merged = new Map<string, ArmCounts>();
  for (const sample of samples) {
    let counts = merged.get(sample.arm);
    if (!counts) {
      counts = emptyArmCounts();
      merged.set(sample.arm, counts);
    }
    counts.requests += sample.requests;
    counts.errors += sample.errors;
    const buckets = sample.latencyBuckets;
    for (let i = 0; i < buckets.length; i++) {
      counts.latencyBuckets[Math.min(i, LATENCY_BUCKET_COUNT - 1)]! += buckets[i]!;
    }
  }
  return merged;
}

/**
 * The q-quantile (0 < q ≤ 1) of a latency histogram, as the upper bound of the bucket that holds it
 * (so never below the true value), OVERFLOW_LATENCY_MS when that is the overflow bucket, and null
 * when the histogram is empty.
 */
export function percentileMs(buckets: readonly number[], q: number): number | null {
  let total = 0;
  for (const count of buckets) if (count > 0) total += count;
  if (total === 0) return null;
  // The small epsilon keeps float noise (0.07 * 100 = 7.000000000000001) from moving up a rank.
  const rank = Math.min(total, Math.max(1, Math.ceil(q * total - 1e-9)));
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const count = buckets[i]!;
    if (count > 0) seen += count;
    if (seen >= rank) return i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[i]! : OVERFLOW_LATENCY_MS;
  }
  return OVERFLOW_LATENCY_MS;
}

function copyCounts(counts: ArmCounts): ArmCounts {
  return { requests: counts.requests, errors: counts.errors, latencyBuckets: counts.latencyBuckets.slice() };
}
