/**
 * TypeBox schemas of the management API (/v1/): request bodies, query strings, path parameters
 * and headers, which the routes validate; and the records and views the routes answer with, which
 * only the OpenAPI document reads (registered as shared schemas, they become its components). The
 * shapes mirror core/registry.ts and the views of the ManagementApi.
 */
import { Type } from 'typebox';

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** `{"error": "..."}`: every failure, as on the V2 routes; `description` says when it is answered. */
export function errorBody(description = 'What went wrong') {
  return Type.Object({ error: Type.String() }, { description });
}

/** A version number, or an alias (or another name the registry resolves, such as "latest"). */
export const VersionRef = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1 })], {
  description: 'A version number or an alias',
});

// An object of string values: `additionalProperties` rather than Type.Record, whose
// patternProperties OpenAPI 3.0 does not know.
const StringMap = Type.Object({}, { additionalProperties: Type.String() });

/** A named schema: a component of the OpenAPI document, referred to by Type.Ref(name). */
const named = <T extends object>(name: string, schema: T): T => ({ ...schema, $id: name });

// The spec pieces without names, for request bodies: TypeBox compiles those on their own.
const RouteArmShape = Type.Object({
  name: Type.String({ description: '"stable", "canary", …: exactly one arm is named "stable"' }),
  version: Type.Integer(),
  weight: Type.Number({ description: 'Percent of traffic; the weights sum to 100' }),
});
const RouteRuleShape = Type.Object({
  header: Type.Optional(Type.String()),
  parameter: Type.Optional(Type.String()),
  equals: Type.String(),
  arm: Type.String({ description: 'Arm that requests matching the rule go to' }),
});
const StickyShape = Type.Object({ header: Type.Optional(Type.String()), parameter: Type.Optional(Type.String()) }, { description: 'Where the sticky key comes from' });
const ShadowShape = Type.Object({ version: Type.Integer(), percent: Type.Number() }, { description: 'Mirror this share of requests to a version' });

// ---------------------------------------------------------------------------------------------
// Records and views (responses), registered once as shared schemas so the document lists each as
// a component. Only the OpenAPI document reads them.

const TensorSpec = named('TensorSpec', Type.Object({
  name: Type.String(),
  datatype: Type.String(),
  shape: Type.Array(Type.Integer(), { description: 'Full shape, batch dimension included; -1 where dynamic' }),
}));

const ModelSignature = named('ModelSignature', Type.Object({ inputs: Type.Array(Type.Ref('TensorSpec')), outputs: Type.Array(Type.Ref('TensorSpec')) }));

const VersionView = named('VersionView', Type.Object({
  model: Type.String(),
  version: Type.Integer(),
  digest: Type.String({ description: '"sha256:" and the hex digest of the model file' }),
  size: Type.Integer({ description: 'Bytes of the model file' }),
  createdAt: Type.String({ description: 'ISO 8601' }),
  createdBy: Type.String(),
  source: Type.String({ description: 'Where the artifact came from' }),
  runId: Type.String(),
  description: Type.String(),
  tags: StringMap,
  signature: Type.Optional(Type.Ref('ModelSignature')),
  state: Type.String({ description: 'Load state now (READY, LOADING, UNAVAILABLE…)' }),
  aliases: Type.Array(Type.String()),
  arms: Type.Array(Type.String(), { description: 'Arms of the current routing this version serves' }),
}));

const AliasRecord = named('AliasRecord', Type.Object({
  model: Type.String(),
  alias: Type.String(),
  version: Type.Integer(),
  updatedAt: Type.String(),
  updatedBy: Type.String(),
}));

const RouteArm = named('RouteArm', RouteArmShape);
const RouteRule = named('RouteRule', RouteRuleShape);

const RoutingSpec = named('RoutingSpec', Type.Object({
  seed: Type.String({ description: 'Seed of the sticky hash' }),
  arms: Type.Array(Type.Ref('RouteArm')),
  sticky: Type.Optional(StickyShape),
  rules: Type.Optional(Type.Array(Type.Ref('RouteRule'))),
  shadow: Type.Optional(ShadowShape),
}));

const RoutingRecord = named('RoutingRecord', Type.Object({
  model: Type.String(),
  spec: Type.Ref('RoutingSpec'),
  revision: Type.Integer({ description: 'Increases by one on every change' }),
  updatedAt: Type.String(),
  updatedBy: Type.String(),
}));

const ArmSummary = named('ArmSummary', Type.Object({
  arm: Type.String(),
  version: Type.Integer(),
  weight: Type.Number(),
  requests: Type.Integer(),
  errors: Type.Integer(),
  p99Ms: Type.Union([Type.Number(), Type.Null()]),
}));

const ShadowSummary = named('ShadowSummary', Type.Object({
  version: Type.Integer(),
  mirrored: Type.Integer(),
  agreed: Type.Integer(),
  disagreed: Type.Integer(),
  failed: Type.Integer(),
  latencyDeltaMs: Type.Number({ description: 'Mean of (shadow − live) latency' }),
}));

const RoutingView = named('RoutingView', Type.Object({
  model: Type.String(),
  routing: Type.Optional(Type.Ref('RoutingRecord')),
  arms: Type.Array(Type.Ref('ArmSummary'), { description: 'Counts since this process applied the routing' }),
  shadow: Type.Optional(Type.Ref('ShadowSummary')),
}));

const RoutingChange = named('RoutingChange', Type.Object({
  dryRun: Type.Boolean(),
  before: Type.Optional(Type.Ref('RoutingSpec')),
  after: Type.Ref('RoutingSpec'),
  diff: Type.Array(Type.String(), { description: 'What changes, one line each' }),
  routing: Type.Optional(Type.Ref('RoutingRecord')),
}));

const RolloutPolicy = named('RolloutPolicy', Type.Object({
  steps: Type.Array(Type.Number()),
  intervalMs: Type.Integer(),
  maxErrorRate: Type.Number(),
  maxP99Ms: Type.Optional(Type.Number()),
  maxLatencyRatio: Type.Number(),
  minRequests: Type.Integer(),
  maxOutputDrift: Type.Optional(Type.Number()),
}));

const RolloutView = named('RolloutView', Type.Object({
  id: Type.String(),
  model: Type.String(),
  from: Type.Integer(),
  to: Type.Integer(),
  policy: Type.Ref('RolloutPolicy'),
  status: Type.Enum(['running', 'paused', 'succeeded', 'rolled_back', 'aborted']),
  step: Type.Integer({ description: 'Index into policy.steps' }),
  stepStartedAt: Type.String(),
  startedAt: Type.String(),
  updatedAt: Type.String(),
  reason: Type.String(),
  revision: Type.Integer(),
  weight: Type.Number({ description: "The canary's weight now" }),
  lastAnalysis: Type.Optional(Type.Object({ at: Type.String(), verdict: Type.String(), canary: Type.Ref('ArmSummary'), stable: Type.Ref('ArmSummary') })),
}));

const AuditEntry = named('AuditEntry', Type.Object({
  id: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  model: Type.String(),
  action: Type.String({ description: '"version.register", "alias.set", "routing.set", "rollout.start"…' }),
  from: Type.String(),
  to: Type.String(),
  reason: Type.String(),
  details: Type.Optional(Type.Object({}, { additionalProperties: true })),
}));

const ModelSummary = named('ModelSummary', Type.Object({
  name: Type.String(),
  versions: Type.Array(Type.Ref('VersionView')),
  aliases: Type.Array(Type.Ref('AliasRecord')),
  routing: Type.Optional(Type.Ref('RoutingRecord')),
  rollout: Type.Optional(Type.Ref('RolloutView')),
}));

/** Every named schema, for addSchema on the server (the OpenAPI document's components). */
export const COMPONENTS = [
  TensorSpec, ModelSignature, VersionView, AliasRecord, RouteArm, RouteRule, RoutingSpec, RoutingRecord,
  ArmSummary, ShadowSummary, RoutingView, RoutingChange, RolloutPolicy, RolloutView, AuditEntry, ModelSummary,
];

export type ComponentName =
  | 'VersionView' | 'AliasRecord' | 'RoutingSpec' | 'RoutingRecord' | 'RoutingView' | 'RoutingChange' | 'RolloutView' | 'AuditEntry' | 'ModelSummary';

/** A response that is one named record, described. */
export function answer(name: ComponentName, description: string) {
  return Type.Ref(name, { description });
}

/** A response that is a list of named records, described. */
export function list(name: ComponentName, description: string) {
  return Type.Array(Type.Ref(name), { description });
}

// ---------------------------------------------------------------------------------------------
// Requests. Bodies refuse unknown keys (a misspelt option must not be ignored silently), except
// the routing spec: ManagementApi.setRouting validates it and names unknown keys itself.

const Reason = Type.String({ description: 'Why, for the audit log' });

export const AliasBody = Type.Object({ version: VersionRef }, { additionalProperties: false });

export const RoutingBody = Type.Object(
  {
    seed: Type.Optional(Type.String({ description: 'Kept from the current routing when absent' })),
    arms: Type.Array(RouteArmShape),
    sticky: Type.Optional(StickyShape),
    rules: Type.Optional(Type.Array(RouteRuleShape)),
    shadow: Type.Optional(ShadowShape),
    reason: Type.Optional(Reason),
  },
  { description: 'A routing spec, plus the reason for the change' },
);

export const RolloutStartBody = Type.Object(
  {
    to: VersionRef,
    steps: Type.Optional(Type.Array(Type.Number({ minimum: 0, maximum: 100 }), { minItems: 1, description: 'Canary weights in percent, ascending, ending at 100' })),
    interval_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    max_error_rate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    max_p99_ms: Type.Optional(Type.Number({ minimum: 0 })),
    max_latency_ratio: Type.Optional(Type.Number({ minimum: 0 })),
    min_requests: Type.Optional(Type.Integer({ minimum: 1 })),
    max_output_drift: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: "Largest Jensen–Shannon distance between the canary's and the stable arm's outputs (0.1 = the drift alert threshold)" })),
  },
  { additionalProperties: false },
);

export const ReasonBody = Type.Object({ reason: Type.Optional(Reason) }, { additionalProperties: false });

export const RollbackBody = Type.Object(
  {
    to: Type.Optional(VersionRef),
    at: Type.Optional(Type.String({ description: 'Roll back to what served at this time (ISO 8601)' })),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false },
);

export const UploadQuery = Type.Object(
  {
    alias: Type.Optional(Type.String({ description: 'Point this alias at the new version' })),
    description: Type.Optional(Type.String()),
    source: Type.Optional(Type.String()),
    run_id: Type.Optional(Type.String()),
    tags: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'Comma-separated key=value pairs' })),
    digest: Type.Optional(Type.String({ description: 'sha256:<hex> of the file; the x-modelport-digest header does the same' })),
  },
  { additionalProperties: false },
);

export const RoutingQuery = Type.Object(
  { dry_run: Type.Optional(Type.Boolean({ description: 'Validate and show the diff without applying it' })) },
  { additionalProperties: false },
);

export const AuditQuery = Type.Object(
  {
    model: Type.Optional(Type.String()),
    limit: Type.Optional(Type.Integer({ minimum: 1 })),
    until: Type.Optional(Type.String({ description: 'Entries before this time (ISO 8601)' })),
  },
  { additionalProperties: false },
);

export const ModelParams = Type.Object({ model: Type.String() });
export const VersionParams = Type.Object({ model: Type.String(), version: Type.String({ description: 'A version number or an alias' }) });
export const AliasParams = Type.Object({ model: Type.String(), alias: Type.String() });

export const ActorHeaders = Type.Object({
  'x-modelport-actor': Type.Optional(Type.String({ description: "Who asks, for the audit log (default 'api')" })),
});

export const UploadHeaders = Type.Object({
  'x-modelport-actor': Type.Optional(Type.String({ description: "Who asks, for the audit log (default 'api')" })),
  'x-modelport-digest': Type.Optional(Type.String({ description: 'sha256:<hex> of the file, checked against what arrives' })),
});

/** What the OpenAPI document shows as the upload's body (validation never sees it: it is a stream). */
export const UploadBodyDoc = {
  content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary', description: 'The ONNX model file' } } },
} as const;
