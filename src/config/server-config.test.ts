import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { envName, loadServerConfig } from './server-config.js';

test('flags beat environment beat file beat defaults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-config-'));
  const file = join(dir, 'modelport.yaml');
  writeFileSync(file, 'httpPort: 9000\nlogLevel: debug\nhost: 127.0.0.1\n');
  const config = loadServerConfig({ httpPort: '9100' }, { MODELPORT_HTTP_PORT: '9050', MODELPORT_LOG_LEVEL: 'warn' }, file);
  assert.equal(config.httpPort, 9100);
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.host, '127.0.0.1');
  assert.equal(config.modelControlMode, 'none');
  assert.equal(config.modelRepository, resolve('models'));
});

test('a bad value names the key and what was expected', () => {
  assert.throws(() => loadServerConfig({ httpPort: 'eighty' }, {}), /invalid configuration 'httpPort' \(MODELPORT_HTTP_PORT\): got "eighty", expected an integer from 0 to 65535/);
  assert.throws(() => loadServerConfig({}, { MODELPORT_MODEL_CONTROL_MODE: 'sometimes' }), /modelControlMode.*one of none, poll, explicit/);
  assert.throws(() => loadServerConfig({ loadModels: ['a'] }, {}), /only with modelControlMode 'explicit'/);
  assert.throws(() => loadServerConfig({ strictReadiness: 'maybe' }, {}), /true or false/);
});

test('a config file with an unknown key is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mp-config-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ httpPortt: 1 }));
  assert.throws(() => loadServerConfig({}, {}, file), /unknown configuration key 'httpPortt'/);
});

test('environment names follow the keys', () => {
  assert.equal(envName('repositoryPollSecs'), 'MODELPORT_REPOSITORY_POLL_SECS');
});
