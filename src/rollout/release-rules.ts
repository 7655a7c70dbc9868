/**
 * The rules of release changes that need no state: the routing of a rollout step, the audit
 * entries routing and rollout changes write (with the stable version before and after, which
 * rollback by time reads back), name checks for models and aliases, and the errors they raise.
 */
import { isReservedAlias, mpError, NAME_PATTERN, type AuditInput, type RolloutRecord, type RoutingSpec } from '../core/index.js';
import { percentileMs } from './arm-window.js';
import type { Actor, ArmSummary } from './management-api.js';
import { stableArm } from './routing-spec.js';

/** Audit actions that change a model's routing; each records the stable version in details.stable. */
export const ROUTING_ACTIONS = new Set(['routing.set', 'routing.pin', 'rollback', 'rollout.start', 'rollout.step', 'rollout.succeeded', 'rollout.promote', 'rollout.rolled_back', 'rollout.aborted']);

/** The routing of a rollout step: the candidate as "canary" at `weight`, the rest on stable. */
export function canarySpec(base: RoutingSpec, from: number, to: number, weight: number, seed: string): RoutingSpec {
  const arms = weight >= 100 ? [{ name: 'stable', version: from, weight: 0 }, { name: 'canary', version: to, weight: 100 }] : [{ name: 'canary', version: to, weight }, { name: 'stable', version: from, weight: 100 - weight }];
  const spec: RoutingSpec = { seed, arms };
  if (base.sticky) spec.sticky = base.sticky;
  const rules = (base.rules ?? []).filter((r) => r.arm === 'stable' || r.arm === 'canary');
  if (rules.length > 0) spec.rules = rules;
  return spec;
}

/** The version that takes most of the traffic (the stable arm on a tie): what "serves" means in the audit log. */
export function servingVersion(spec: RoutingSpec): number {
  let best = stableArm(spec);
  for (const arm of spec.arms) if (arm.weight > best.weight) best = arm;
  return best.version;
}

export function routingAudit(actor: Actor, model: string, before: RoutingSpec | undefined, after: RoutingSpec, action: string, reason: string): AuditInput {
  const stableBefore = before ? servingVersion(before) : undefined;
  const stable = servingVersion(after);
  return {
    actor: actor.name,
    model,
    action,
    from: stableBefore === undefined ? '' : String(stableBefore),
    to: String(stable),
    reason,
    details: { stable, ...(stableBefore !== undefined ? { stableBefore } : {}), spec: after },
  };
}

export function rolloutAudit(actor: string, rollout: RolloutRecord, action: string, reason: string, spec: RoutingSpec | undefined): AuditInput {
  const details: Record<string, unknown> = { rollout: rollout.id, step: rollout.step, weight: rollout.policy.steps[rollout.step] };
  if (spec) {
    details['spec'] = spec;
    details['stable'] = servingVersion(spec);
    details['stableBefore'] = rollout.from;
  }
  return { actor, model: rollout.model, action, from: String(rollout.from), to: String(rollout.to), reason, details };
}

export function armSummary(arm: string, version: number, weight: number, counts: { requests: number; errors: number; latencyBuckets: number[] } | undefined): ArmSummary {
  return { arm, version, weight, requests: counts?.requests ?? 0, errors: counts?.errors ?? 0, p99Ms: counts ? percentileMs(counts.latencyBuckets, 0.99) : null };
}

export function rolloutState(rollout: RolloutRecord, action: string): Error {
  return mpError('MP_ERR_ROLLOUT_STATE', `cannot ${action} the rollout of model '${rollout.model}' to version ${rollout.to}: it is ${rollout.status}`);
}

export function unknownVersion(model: string, version: number): Error {
  return mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `model '${model}' has no registered version ${version}`);
}

/** A version string that is neither a number nor an alias: 404, as a version that does not exist. */
export function unknownVersionName(model: string, name: string): Error {
  return mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `Request for unknown model: '${model}' has no version or alias '${name}'`);
}

export function checkName(what: string, name: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw mpError('MP_ERR_REGISTRY_NAME', `invalid ${what} name ${JSON.stringify(name)}: expected letters, digits, "_", "." and "-", starting with a letter, digit or "_" (at most 128 characters)`);
  }
}

export function checkAlias(alias: string): void {
  checkName('alias', alias);
  if (isReservedAlias(alias)) throw mpError('MP_ERR_REGISTRY_ALIAS_INVALID', `alias '${alias}' is reserved: 'latest' and 'v<number>' name versions themselves`);
  if (/^[0-9]+$/.test(alias)) throw mpError('MP_ERR_REGISTRY_ALIAS_INVALID', `alias '${alias}' is a number and would read as a version; choose a name such as 'production'`);
}
