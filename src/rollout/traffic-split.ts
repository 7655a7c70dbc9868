/**
 * The traffic split of one routing spec: which arm serves a request (match rules, then a sticky
 * hash of the request's key, then chance) and whether it is mirrored to the shadow. Built once per
 * routing change and consulted on every inference, so everything that can be is precomputed.
 */
import { mpError, type RouteArm, type RoutingSpec } from '../core/index.js';
import { STABLE_ARM } from './routing-spec.js';
import type { RouteKey } from './serving-router.js';

interface CompiledRule {
  /** True: match a header; false: a parameter. */
  header: boolean;
  name: string;
  equals: string;
  arm: RouteArm;
}

export class TrafficSplit {
  readonly spec: RoutingSpec;
  /**
   * Arms with weight > 0 in the order their ranges are laid out on [0, 100): the non-stable arms in
   * spec order, stable last. With a fixed seed, growing a canary's weight (at stable's expense) then
   * only extends the canary's range, so every key already on the canary stays there.
   */
  private readonly arms: RouteArm[];
  /** Exclusive upper end of each arm's range, cumulative. */
  private readonly bounds: Float64Array;
  /** Set when one arm takes all weighted traffic: no hashing or random draw needed. */
  private readonly only: RouteArm | undefined;
  private readonly rules: CompiledRule[];
  private readonly stickyHeader: string | undefined;
  private readonly stickyParameter: string | undefined;
  /** FNV-1a state after hashing the seed and the separator, so a pick hashes only the key. */
  private readonly seedState: number;
  private readonly shadowPercent: number;
  private readonly random: () => number;

  /** `random` returns a number in [0, 1), like Math.random (injected by tests). */
  constructor(spec: RoutingSpec, random: () => number = Math.random) {
    this.spec = spec;
    this.random = random;
    const byName = new Map(spec.arms.map((arm) => [arm.name, arm]));
    const weighted = spec.arms.filter((arm) => arm.weight > 0);
    this.arms = [...weighted.filter((arm) => arm.name !== STABLE_ARM), ...weighted.filter((arm) => arm.name === STABLE_ARM)];
    if (this.arms.length === 0) {
      // Unreachable for validated specs (weights sum to 100); fall back to stable rather than fail requests.
      const stable = byName.get(STABLE_ARM);
      if (!stable) throw mpError('MP_ERR_ROUTING_INVALID', 'routing has no arm with weight > 0 and no stable arm');
      this.arms = [stable];
    }
    this.bounds = new Float64Array(this.arms.length);
    let total = 0;
    this.arms.forEach((arm, index) => {
      total += arm.weight;
      this.bounds[index] = total;
    });
    // Weights may sum to 100 ± 1e-9: the last range absorbs the rounding so every point has an arm.
    this.bounds[this.arms.length - 1] = Infinity;
    this.only = this.arms.length === 1 ? this.arms[0] : undefined;

    this.rules = (spec.rules ?? []).map((rule) => {
      const arm = byName.get(rule.arm);
      if (!arm) throw mpError('MP_ERR_ROUTING_INVALID', `routing rule names arm '${rule.arm}', which is not one of the arms`);
      return rule.header !== undefined
        ? { header: true, name: rule.header, equals: rule.equals, arm }
        : { header: false, name: rule.parameter ?? '', equals: rule.equals, arm };
    });
    this.stickyHeader = spec.sticky?.header;
    this.stickyParameter = spec.sticky?.header === undefined ? spec.sticky?.parameter : undefined;
    this.seedState = seedHashState(spec.seed);
    this.shadowPercent = spec.shadow?.percent ?? 0;
  }

  /** The arm that serves a request: the first matching rule, else its sticky key's range, else chance. */
  pick(key: RouteKey): RouteArm {
    const rules = this.rules;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      const value = rule.header ? key.header(rule.name) : key.parameter(rule.name);
      if (value === rule.equals) return rule.arm;
    }
    if (this.only) return this.only;
    let point: number;
    const sticky =
      this.stickyHeader !== undefined ? key.header(this.stickyHeader)
      : this.stickyParameter !== undefined ? key.parameter(this.stickyParameter)
      : undefined;
    // An empty key is treated as absent: otherwise every request without one would pile onto one arm.
    if (sticky) point = hashToPercent(this.seedState, sticky);
    else point = this.random() * 100;
    return this.armAt(point);
  }

  /** Where a sticky key falls on [0, 100) under this spec's seed (for diagnostics and tests). */
  stickyPoint(keyValue: string): number {
    return hashToPercent(this.seedState, keyValue);
  }

  /** The weighted arm whose range holds `point` in [0, 100). */
  armAt(point: number): RouteArm {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) if (point < bounds[i]!) return this.arms[i]!;
    return this.arms[this.arms.length - 1]!;
  }

  /** Whether this request is also mirrored to the shadow: true with probability percent / 100. */
  shadowSample(): boolean {
    return this.shadowPercent > 0 && this.random() * 100 < this.shadowPercent;
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const TWO_POW_32 = 4294967296;

/** Where `keyValue` falls on [0, 100) under `seed`: the same on every replica and every restart. */
export function stickyPercent(seed: string, keyValue: string): number {
  return hashToPercent(seedHashState(seed), keyValue);
}

function seedHashState(seed: string): number {
  // The NUL separator keeps ("ab", "c") and ("a", "bc") apart.
  return Math.imul(fnv1aUtf8(FNV_OFFSET, seed) ^ 0, FNV_PRIME);
}

function hashToPercent(state: number, keyValue: string): number {
  return (fmix32(fnv1aUtf8(state, keyValue)) / TWO_POW_32) * 100;
}

/**
 * Continues 32-bit FNV-1a over the UTF-8 bytes of `text`, encoding on the fly so no buffer is
 * allocated per request; lone surrogates hash as U+FFFD, as TextEncoder would encode them.
 * Changing this function moves sticky keys between arms: keep it stable.
 */
export function fnv1aUtf8(state: number, text: string): number {
  let h = state | 0;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      h = Math.imul(h ^ code, FNV_PRIME);
      continue;
    }
    if (code < 0x800) {
      h = Math.imul(h ^ (0xc0 | (code >> 6)), FNV_PRIME);
      h = Math.imul(h ^ (0x80 | (code & 0x3f)), FNV_PRIME);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const point = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
        h = Math.imul(h ^ (0xf0 | (point >> 18)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((point >> 12) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | ((point >> 6) & 0x3f)), FNV_PRIME);
        h = Math.imul(h ^ (0x80 | (point & 0x3f)), FNV_PRIME);
        continue;
      }
      code = 0xfffd;
    }
    h = Math.imul(h ^ (0xe0 | (code >> 12)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | ((code >> 6) & 0x3f)), FNV_PRIME);
    h = Math.imul(h ^ (0x80 | (code & 0x3f)), FNV_PRIME);
  }
  return h >>> 0;
}

/**
 * murmur3's finaliser. FNV-1a alone mixes the last bytes poorly into the high bits, and the high
 * bits pick the arm; without this, keys like "user-1", "user-2"… would cluster.
 */
function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
