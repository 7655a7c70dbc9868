/**
 * Decides which version of a model answers a request. Today that is the version the caller names,
 * or else the highest READY version (Triton's rule); canary, A/B and shadow routing grow here.
 * Error messages match Triton's word for word because clients and tests match on them.
 */
import { mpError, type ModelState } from '../core/index.js';
import type { ModelEntry, ModelVersionEntry } from '../repository/index.js';

const VERSION_PATTERN = /^[0-9]+$/;

/** Parses a caller's version string; "" or undefined means "let the router pick". */
export function parseVersion(model: string, version: string | undefined): number | undefined {
  if (version === undefined || version === '') return undefined;
  const number = VERSION_PATTERN.test(version) ? Number(version) : NaN;
  if (!Number.isSafeInteger(number) || number <= 0) {
    throw mpError(
      'MP_ERR_MODEL_VERSION_INVALID',
      `failed to get model version from specified version string '${version}' for model '${model}': version should be an integral value > 0`,
    );
  }
  return number;
}

export class VersionRouter {
  /** The named version in any state, or MP_ERR_MODEL_VERSION_UNKNOWN. */
  version(entry: ModelEntry, version: number): ModelVersionEntry {
    const found = entry.versions.find((v) => v.version === version);
    if (!found) {
      throw mpError('MP_ERR_MODEL_VERSION_UNKNOWN', `Request for unknown model: '${entry.name}' version ${version} is not found`);
    }
    return found;
  }

  /** The version that serves an inference: READY, named or latest. */
  serving(entry: ModelEntry, version: number | undefined): ModelVersionEntry {
    if (version !== undefined) {
      const found = this.version(entry, version);
      if (found.state !== 'READY' || !found.scheduler) {
        throw mpError('MP_ERR_MODEL_NOT_READY', `Request for unknown model: '${entry.name}' version ${version} is not at ready state`);
      }
      return found;
    }
    const latest = latestInState(entry, 'READY');
    if (!latest || !latest.scheduler) {
      const why = entry.reason ? `: ${entry.reason}` : '';
      throw mpError('MP_ERR_MODEL_NO_VERSIONS', `Request for unknown model: '${entry.name}' has no available versions${why}`);
    }
    return latest;
  }
}

function latestInState(entry: ModelEntry, state: ModelState): ModelVersionEntry | undefined {
  let best: ModelVersionEntry | undefined;
  for (const v of entry.versions) {
    if (v.state === state && (!best || v.version > best.version)) best = v;
  }
  return best;
}
