/**
 * Writes docs/api/openapi.json, the OpenAPI document of the whole REST API (the V2 routes, the
 * management API, drift and jobs), from the routes themselves: builds the REST server with
 * stand-ins for the data plane, the management API, the drift monitor and the jobs service
 * (nothing is called, nothing listens) and asks @fastify/swagger for the document. Run after a
 * build: `node dist/scripts/write-openapi.js` (or with a path, to write the document elsewhere).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRestServer, type DriftStatusSource, type JobsApi } from '../src/adapters/rest/index.js';
import type { DataPlaneApi, ManagementApi } from '../src/dataplane/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = process.argv[2] ?? join(root, 'docs', 'api', 'openapi.json');

/** Any method of a stand-in fails: documenting the routes never calls them. */
function standIn<T extends object>(name: string, known: Partial<T> = {}): T {
  return new Proxy(known, {
    get(target, property) {
      if (property in target) return target[property as keyof typeof target];
      if (typeof property === 'symbol' || property === 'then') return undefined;
      return () => {
        throw new Error(`${name}.${property} is not available while writing the OpenAPI document`);
      };
    },
  }) as T;
}

const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const dataPlane = standIn<DataPlaneApi>('dataPlane', { serverMetadata: () => ({ name: 'modelport', version, extensions: [] }) });
const server = createRestServer({
  dataPlane,
  management: standIn<ManagementApi>('management'),
  drift: standIn<DriftStatusSource>('drift'),
  jobs: standIn<JobsApi>('jobs'),
  inferFastPath: false,
});

await server.fastify.ready();
const document = server.fastify.swagger();
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, `${JSON.stringify(document, null, 2)}\n`);
await server.close();
process.stdout.write(`wrote ${target}\n`);
