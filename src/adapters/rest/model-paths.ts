/**
 * The URL forms of per-model routes: `/v2/models/{name}[/versions/{version}]{suffix}`. Which
 * version strings a URL may carry is decided here and nowhere else: Triton's `[0-9]+`, or an alias
 * name of the registry (`production`, `latest`); anything else is 404 Not Found, as in Triton.
 */

/** find-my-way parameter with its pattern; a version that does not match falls through to 404. */
const VERSION_PARAMETER = ':version(^[A-Za-z0-9_][A-Za-z0-9_.-]*$)';

/** The router's longest path parameter (find-my-way maxParamLength); longer is 414 URI Too Long. */
export const MAX_PARAM_LENGTH = 1024;

export interface ModelParams {
  name: string;
  version?: string;
}

/** Both route paths for one model endpoint, e.g. suffix '/ready' or '' for metadata. */
export function modelPaths(suffix: string): [string, string] {
  return [`/v2/models/:name${suffix}`, `/v2/models/:name/versions/${VERSION_PARAMETER}${suffix}`];
}

/**
 * The infer path as the direct path (infer-fast-path.ts) matches it: the same names and versions
 * the routes accept, with an optional query string. Keep in step with VERSION_PARAMETER.
 */
export const INFER_PATH = /^\/v2\/models\/([^/?]+)(?:\/versions\/([A-Za-z0-9_][A-Za-z0-9_.-]*))?\/infer(?:\?.*)?$/;
