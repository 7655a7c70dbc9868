/**
 * Routing specs as operators send them: validation of an untrusted spec into the normalised form the
 * registry stores and the traffic split reads, the human-readable diff a dry run shows, and small
 * helpers over a spec (its stable arm, the versions it keeps loaded). Pure: no I/O.
 */
import { randomUUID } from 'node:crypto';
import { mpError, NAME_PATTERN, type ModelportError, type RouteArm, type RouteRule, type RoutingSpec } from '../core/index.js';

/** The arm that takes whatever traffic the others do not; every spec has exactly one. */
export const STABLE_ARM = 'stable';

/** Weights are percentages that may be fractional; sums within this of 100 count as 100. */
const WEIGHT_TOLERANCE = 1e-9;
/** RFC 9110 token characters, lower-case only: Node hands handlers lower-cased header names. */
const HEADER_PATTERN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const MAX_TEXT = 256;

const SPEC_KEYS = ['seed', 'arms', 'sticky', 'rules', 'shadow'] as const;
const ARM_KEYS = ['name', 'version', 'weight'] as const;
const STICKY_KEYS = ['header', 'parameter'] as const;
const RULE_KEYS = ['header', 'parameter', 'equals', 'arm'] as const;
const SHADOW_KEYS = ['version', 'percent'] as const;

type Invalid = (message: string) => ModelportError;

/**
 * Checks an untrusted routing spec for `model` and returns it normalised: only known fields, header
 * names lower-cased, empty rules dropped, a random seed when none was given. Throws
 * MP_ERR_ROUTING_INVALID for a malformed spec and MP_ERR_MODEL_VERSION_UNKNOWN for a version that
 * is not in `registered`.
 */
export function validateRoutingSpec(model: string, input: unknown, registered: ReadonlySet<number>): RoutingSpec {
  const invalid: Invalid = (message) => mpError('MP_ERR_ROUTING_INVALID', `routing of model '${model}': ${message}`);
  if (!isRecord(input)) throw invalid(`expected an object with "arms" (and optionally ${SPEC_KEYS.filter((k) => k !== 'arms').join(', ')}), got ${show(input)}`);
  refuseUnknownKeys(input, SPEC_KEYS, 'the spec', invalid);

  let seed: string;
  if (input.seed === undefined) seed = randomUUID();
  else if (typeof input.seed === 'string' && input.seed.length > 0 && input.seed.length <= MAX_TEXT) seed = input.seed;
  else throw invalid(`seed must be a non-empty string of at most ${MAX_TEXT} characters, got ${show(input.seed)}`);

  const arms = validateArms(input.arms, invalid);
  const spec: RoutingSpec = { seed, arms };

  if (input.sticky !== undefined) spec.sticky = validateKeySource(input.sticky, 'sticky', STICKY_KEYS, invalid);

  if (input.rules !== undefined) {
    if (!Array.isArray(input.rules)) throw invalid(`rules must be an array of {header or parameter, equals, arm}, got ${show(input.rules)}`);
    const names = arms.map((arm) => arm.name);
    const rules = input.rules.map((raw, index) => validateRule(raw, `rules[${index}]`, names, invalid));
    // An empty list routes like no list; storing one form keeps diffs and comparisons simple.
    if (rules.length > 0) spec.rules = rules;
  }

  if (input.shadow !== undefined) {
    const raw = input.shadow;
    if (!isRecord(raw)) throw invalid(`shadow must be an object {version, percent}, got ${show(raw)}`);
    refuseUnknownKeys(raw, SHADOW_KEYS, 'shadow', invalid);
    if (!isPositiveInteger(raw.version)) throw invalid(`shadow.version must be an integer > 0, got ${show(raw.version)}`);
    if (typeof raw.percent !== 'number' || !Number.isFinite(raw.percent) || raw.percent <= 0 || raw.percent > 100) {
      throw invalid(`shadow.percent must be a number above 0 and at most 100, got ${show(raw.percent)}`);
    }
    const serving = arms.find((arm) => arm.version === raw.version);
    if (serving) throw invalid(`shadow version ${raw.version} is already served by arm '${serving.name}'; a shadow must be a version no arm serves`);
    spec.shadow = { version: raw.version, percent: raw.percent };
  }

  // Registry checks come last so a malformed spec is reported as such whatever versions exist.
  for (const arm of arms) requireRegistered(model, arm.version, `arm '${arm.name}'`, registered);
  if (spec.shadow) requireRegistered(model, spec.shadow.version, 'shadow', registered);
  return spec;
}

function validateArms(raw: unknown, invalid: Invalid): RouteArm[] {
  if (!Array.isArray(raw) || raw.length === 0) throw invalid(`arms must be a non-empty array of {name, version, weight}, got ${show(raw)}`);
  const arms: RouteArm[] = [];
  const seen = new Set<string>();
  raw.forEach((item: unknown, index) => {
    if (!isRecord(item)) throw invalid(`arms[${index}] must be an object {name, version, weight}, got ${show(item)}`);
    refuseUnknownKeys(item, ARM_KEYS, `arms[${index}]`, invalid);
    const { name, version, weight } = item;
    if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
      throw invalid(`arms[${index}].name must be 1-128 letters, digits, '_', '.' or '-' (not starting with '.' or '-'), got ${show(name)}`);
    }
    if (seen.has(name)) throw invalid(`arm name '${name}' is used more than once; arm names must be unique`);
    seen.add(name);
    if (!isPositiveInteger(version)) throw invalid(`arm '${name}': version must be an integer > 0, got ${show(version)}`);
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 100) {
      throw invalid(`arm '${name}': weight must be a number from 0 to 100, got ${show(weight)}`);
    }
    const sharing = arms.find((arm) => arm.version === version);
    if (sharing) throw invalid(`arms '${sharing.name}' and '${name}' both serve version ${version}; each arm must serve a different version`);
    arms.push({ name, version, weight });
  });
  if (!seen.has(STABLE_ARM)) {
    throw invalid(`no arm is named '${STABLE_ARM}' (arms: ${arms.map((a) => a.name).join(', ')}); exactly one must be, it is where traffic falls back`);
  }
  const sum = arms.reduce((total, arm) => total + arm.weight, 0);
  if (Math.abs(sum - 100) > WEIGHT_TOLERANCE) throw invalid(`arm weights sum to ${formatNumber(sum)}, expected 100`);
  return arms;
}

function validateKeySource(raw: unknown, where: string, keys: readonly string[], invalid: Invalid): { header?: string; parameter?: string } {
  if (!isRecord(raw)) throw invalid(`${where} must be an object with exactly one of header or parameter, got ${show(raw)}`);
  refuseUnknownKeys(raw, keys, where, invalid);
  const hasHeader = raw.header !== undefined;
  const hasParameter = raw.parameter !== undefined;
  if (hasHeader === hasParameter) {
    throw invalid(`${where} must name exactly one of header or parameter, got ${hasHeader ? 'both' : 'neither'}`);
  }
  if (hasHeader) return { header: validateHeaderName(raw.header, `${where}.header`, invalid) };
  const parameter = raw.parameter;
  if (typeof parameter !== 'string' || parameter.length === 0 || parameter.length > MAX_TEXT) {
    throw invalid(`${where}.parameter must be a non-empty string of at most ${MAX_TEXT} characters, got ${show(parameter)}`);
  }
  return { parameter };
}

function validateHeaderName(raw: unknown, where: string, invalid: Invalid): string {
  // Header names are case-insensitive; storing them lower-cased matches what Node's request objects use.
  const name = typeof raw === 'string' ? raw.toLowerCase() : undefined;
  if (name === undefined || name.length === 0 || name.length > MAX_TEXT || !HEADER_PATTERN.test(name)) {
    throw invalid(`${where} must be an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~), got ${show(raw)}`);
  }
  return name;
}

function validateRule(raw: unknown, where: string, armNames: readonly string[], invalid: Invalid): RouteRule {
  if (!isRecord(raw)) throw invalid(`${where} must be an object {header or parameter, equals, arm}, got ${show(raw)}`);
  const source = validateKeySource(raw, where, RULE_KEYS, invalid);
  if (typeof raw.equals !== 'string') throw invalid(`${where}.equals must be a string, got ${show(raw.equals)}`);
  if (typeof raw.arm !== 'string' || !armNames.includes(raw.arm)) {
    throw invalid(`${where}.arm must name one of the arms (${armNames.join(', ')}), got ${show(raw.arm)}`);
  }
  return { ...source, equals: raw.equals, arm: raw.arm };
}

function requireRegistered(model: string, version: number, what: string, registered: ReadonlySet<number>): void {
  if (registered.has(version)) return;
  const known = [...registered].sort((a, b) => a - b);
  const listing = known.length > 0 ? `registered versions: ${known.join(', ')}` : 'the model has no registered versions';
  throw mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `routing of model '${model}': ${what} names version ${version}, which is not registered; ${listing}`);
}

function refuseUnknownKeys(value: Record<string, unknown>, known: readonly string[], where: string, invalid: Invalid): void {
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length === 0) return;
  const names = unknown.map((key) => `'${key}'`).join(', ');
  throw invalid(`unknown field${unknown.length > 1 ? 's' : ''} ${names} in ${where}; expected ${known.join(', ')}`);
}

/**
 * What changes from `before` to `after`, one human-readable line per change, for dry runs and the
 * audit log. Empty when the two route alike. A new seed is mentioned only when the spec is sticky,
 * since only sticky assignment uses it.
 */
export function describeRoutingDiff(before: RoutingSpec | undefined, after: RoutingSpec): string[] {
  const lines: string[] = [];
  const previous = new Map((before?.arms ?? []).map((arm) => [arm.name, arm]));
  for (const arm of after.arms) {
    const old = previous.get(arm.name);
    if (!old) {
      lines.push(`arm ${arm.name}: added, version ${arm.version}, weight ${formatNumber(arm.weight)}`);
      continue;
    }
    const changes: string[] = [];
    if (old.version !== arm.version) changes.push(`version ${old.version} → ${arm.version}`);
    if (old.weight !== arm.weight) changes.push(`weight ${formatNumber(old.weight)} → ${formatNumber(arm.weight)}`);
    if (changes.length > 0) lines.push(`arm ${arm.name}: ${changes.join(', ')}`);
  }
  const current = new Set(after.arms.map((arm) => arm.name));
  for (const arm of before?.arms ?? []) if (!current.has(arm.name)) lines.push(`arm ${arm.name}: removed`);

  const stickyBefore = describeSticky(before?.sticky);
  const stickyAfter = describeSticky(after.sticky);
  if (stickyBefore !== stickyAfter) lines.push(`sticky: ${stickyBefore} → ${stickyAfter}`);
  if (before && after.sticky && before.seed !== after.seed) {
    lines.push(`seed: ${before.seed} → ${after.seed} (sticky keys are reassigned)`);
  }

  const rulesBefore = (before?.rules ?? []).map(describeRule);
  const rulesAfter = (after.rules ?? []).map(describeRule);
  if (rulesBefore.join('\n') !== rulesAfter.join('\n')) {
    const removed = rulesBefore.filter((rule) => !rulesAfter.includes(rule));
    const added = rulesAfter.filter((rule) => !rulesBefore.includes(rule));
    for (const rule of removed) lines.push(`rule ${rule}: removed`);
    for (const rule of added) lines.push(`rule ${rule}: added`);
    // Same rules in another order still matter: the first match wins.
    if (removed.length === 0 && added.length === 0) lines.push('rules: reordered (the first match wins)');
  }

  const shadowBefore = describeShadow(before?.shadow);
  const shadowAfter = describeShadow(after.shadow);
  if (shadowBefore !== shadowAfter) lines.push(`shadow: ${shadowBefore} → ${shadowAfter}`);
  return lines;
}

function describeSticky(sticky: RoutingSpec['sticky']): string {
  if (!sticky) return 'none';
  return sticky.header !== undefined ? `header ${sticky.header}` : `parameter ${sticky.parameter ?? ''}`;
}

function describeRule(rule: RouteRule): string {
  const source = rule.header !== undefined ? `header ${rule.header}` : `parameter ${rule.parameter ?? ''}`;
  return `${source} = ${JSON.stringify(rule.equals)} → arm ${rule.arm}`;
}

function describeShadow(shadow: RoutingSpec['shadow']): string {
  return shadow ? `version ${shadow.version} at ${formatNumber(shadow.percent)}%` : 'none';
}

/** The arm named "stable"; throws for a spec that has none (validated specs always do). */
export function stableArm(spec: RoutingSpec): RouteArm {
  const arm = spec.arms.find((candidate) => candidate.name === STABLE_ARM);
  if (!arm) throw mpError('MP_ERR_ROUTING_INVALID', `routing has no arm named '${STABLE_ARM}' (arms: ${spec.arms.map((a) => a.name).join(', ')})`);
  return arm;
}

/** All traffic on one version: what a model routes like before any split, and after a rollback. */
export function singleVersionRouting(version: number, seed?: string): RoutingSpec {
  return { seed: seed ?? randomUUID(), arms: [{ name: STABLE_ARM, version, weight: 100 }] };
}

/** Versions a spec needs loaded: every arm's (zero-weight ones too, rules reach them) and the shadow's. */
export function routingVersions(spec: RoutingSpec): number[] {
  const versions: number[] = [];
  for (const arm of spec.arms) if (!versions.includes(arm.version)) versions.push(arm.version);
  if (spec.shadow && !versions.includes(spec.shadow.version)) versions.push(spec.shadow.version);
  return versions;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Up to six decimals, trailing zeros dropped: sums like 99.89999999999999 read as 99.9. */
function formatNumber(value: number): string {
  return String(Number(value.toFixed(6)));
}

/** A short rendering of an untrusted value for error messages. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const text = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
    return text;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
