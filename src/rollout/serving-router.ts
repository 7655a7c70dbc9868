/**
 * The seam between the data plane and release management: which version and arm answer a request,
 * whether it is mirrored to a shadow, and the outcome of each request fed back for the rollout
 * analysis. The data plane calls it on every inference, so implementations answer from memory.
 */
import type { Tensor } from '../core/index.js';
import type { ModelEntry, ModelVersionEntry } from '../repository/index.js';

/** Where a request's sticky key and match rules look: its headers (or metadata) and parameters. */
export interface RouteKey {
  header(name: string): string | undefined;
  parameter(name: string): string | undefined;
}

export interface RouteDecision {
  version: ModelVersionEntry;
  /** "stable", "canary"…; "direct" when the caller named a version; "alias:<name>" through an alias. */
  arm: string;
  /** A READY shadow version this request is also sent to, when sampled. */
  shadow?: ModelVersionEntry;
}

export type ShadowOutcome = 'agreed' | 'disagreed' | 'failed';

export interface ServingRouter {
  /** Throws MP_ERR_MODEL_VERSION_INVALID / _UNKNOWN / MP_ERR_MODEL_NOT_READY as the version router does. */
  route(entry: ModelEntry, version: string | undefined, key: RouteKey): RouteDecision;
  /** The version an alias (or `latest`: the highest READY) names, if any; for metadata routes. */
  alias(entry: ModelEntry, name: string): number | undefined;
  /** One finished request on an arm (ok = answered without error), with its outputs when it succeeded. */
  observe(model: string, arm: string, ok: boolean, latencyMs: number, outputs?: readonly Tensor[]): void;
  /** One mirrored request: how the shadow's answer compared, and shadow minus live latency. */
  observeShadow(model: string, version: number, outcome: ShadowOutcome, latencyDeltaMs: number): void;
}
