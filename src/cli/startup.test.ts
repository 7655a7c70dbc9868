/**
 * The CLI registers every command at start, so a command module that imports its work up front
 * makes every invocation pay for it (the server's configuration, the registry, metrics: about
 * 0.3 s before `--help` could print). Commands load those on use; this checks that `modelport
 * --help` loads no package but commander, and that the lists the CLI keeps for its option
 * choices equal the modules' own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { ROLES } from '../security/index.js';
import { KEY_ROLES } from './keys-command.js';

const bin = fileURLToPath(new URL('../../../bin/modelport.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'modelport-cli-startup-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('modelport --help loads no package but commander', () => {
  // A resolve hook that names every package the CLI's own modules import.
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.includes('/node_modules/') && !(context.parentURL ?? '').includes('/node_modules/')) process.stderr.write('package ' + resolved.url + '\\n');
  return resolved;
}\n`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const run = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, bin, '--help'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /Usage: modelport/);
  const packages = new Set([...run.stderr.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].map((m) => m[1]));
  assert.deepEqual([...packages], ['commander']);
});

test('keys create --role offers exactly the roles the server knows', () => {
  assert.deepEqual([...KEY_ROLES].sort(), [...ROLES].sort());
});
