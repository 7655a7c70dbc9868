/**
 * Modelport's own version, from its package.json. In core so that every entry point can tell it
 * without loading the server: the command line prints it before it knows which command runs, and
 * loading app/ for it cost every command (`modelport batch` included) the server's whole module
 * graph at start-up.
 */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  // dist/src/core/version.js → the package root, three folders up.
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
