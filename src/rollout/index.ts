/** Which version serves a request: version names and aliases, traffic splits, shadows, rollouts. */
export { VersionRouter, parseVersion } from './version-router.js';
export { ReleaseManager, type ReleaseEvent, type ReleaseManagerOptions } from './release-manager.js';
export { unknownVersionName } from './release-rules.js';
export { outputsAgree } from './output-agreement.js';
export type { RouteDecision, RouteKey, ServingRouter, ShadowOutcome } from './serving-router.js';
export type * from './management-api.js';
