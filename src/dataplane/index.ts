/** The use-case layer every adapter calls: health, metadata, repository control and inference. */
export type * from './types.js';
export { DataPlane, type DataPlaneOptions } from './data-plane.js';
export { StatisticsRecorder } from './statistics-recorder.js';
export { validateRequest, type ValidatedRequest } from './request-validator.js';
export type {
  Actor,
  ArmSummary,
  ManagementApi,
  ModelSummary,
  PublishRequest,
  RollbackRequest,
  RolloutStartRequest,
  RolloutView,
  RoutingChange,
  RoutingView,
  ShadowSummary,
  VersionView,
} from '../rollout/index.js';
