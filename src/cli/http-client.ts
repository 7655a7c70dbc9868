/**
 * The small V2 REST client the CLI uses to talk to a running server (global fetch). Errors come
 * back as the server's own `{"error": ...}` message with the HTTP status. Requests carry the
 * credential of --token or $MODELPORT_TOKEN.
 */
export const DEFAULT_URL = 'http://localhost:8000';
/** Where `--grpc` without an address looks for the server. */
export const DEFAULT_GRPC_ADDRESS = 'localhost:8001';

/** `Authorization: Bearer …` for a token given on the command line or in $MODELPORT_TOKEN; none without. */
export function authorizationHeader(token: string | undefined = process.env.MODELPORT_TOKEN): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function request(baseUrl: string, method: 'GET' | 'POST', path: string, body?: Uint8Array | string, headers: Record<string, string> = {}): Promise<Response> {
  const url = new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  let response: Response;
  try {
    response = await fetch(url, { method, headers: { ...authorizationHeader(), ...headers }, ...(body !== undefined ? { body } : {}) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`cannot reach ${url.origin}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  if (!response.ok) {
    const text = await response.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: show the text as it is
    }
    throw new Error(`${method} ${url.pathname} failed with HTTP ${response.status}: ${message || response.statusText}`);
  }
  return response;
}

export async function getJson<T>(baseUrl: string, path: string): Promise<T> {
  return (await (await request(baseUrl, 'GET', path)).json()) as T;
}

export async function postJson<T>(baseUrl: string, path: string, body: unknown): Promise<T> {
  const response = await request(baseUrl, 'POST', path, JSON.stringify(body), { 'content-type': 'application/json' });
  return (await response.json()) as T;
}
