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

test('request and connection limits: defaults, the tensor-bytes default follows the body limit, bad values named', () => {
  const defaults = loadServerConfig({}, {});
  assert.equal(defaults.maxRequestInputs, 256);
  assert.equal(defaults.maxRequestOutputs, 256);
  assert.equal(defaults.maxTensorElements, 16 * 1024 * 1024);
  assert.equal(defaults.maxRequestTensorBytes, defaults.httpBodyLimit);
  assert.equal(defaults.maxHeaderBytes, 16384);
  assert.equal(defaults.headersTimeoutMs, 15000);
  assert.equal(defaults.requestTimeoutMs, 300000);
  assert.equal(defaults.maxConnections, 4096);
  const custom = loadServerConfig({ httpBodyLimit: '2048', maxTensorElements: '10', maxConnections: '0' }, { MODELPORT_MAX_STRING_ELEMENT_BYTES: '7' });
  assert.equal(custom.maxRequestTensorBytes, 2048);
  assert.equal(custom.maxTensorElements, 10);
  assert.equal(custom.maxConnections, 0);
  assert.equal(custom.maxStringElementBytes, 7);
  assert.equal(loadServerConfig({ httpBodyLimit: '2048', maxRequestTensorBytes: '99999' }, {}).maxRequestTensorBytes, 99999);
  assert.throws(() => loadServerConfig({ maxRequestOutputs: '0' }, {}), /invalid configuration 'maxRequestOutputs' \(MODELPORT_MAX_REQUEST_OUTPUTS\).*from 1/);
  assert.throws(() => loadServerConfig({ headersTimeoutMs: '5000', requestTimeoutMs: '1000' }, {}), /'headersTimeoutMs'.*at most requestTimeoutMs \(1000\)/);
  assert.throws(() => loadServerConfig({ maxHeaderBytes: '10' }, {}), /maxHeaderBytes/);
});
