import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isModelportError } from '../core/index.js';
import { ADMIN, ANY, OPEN, READ, authorize, type Access, type Principal } from './roles.js';

const admin: Principal = { id: 'key:a', role: 'admin' };
const reader: Principal = { id: 'key:r', role: 'read' };
const inferAll: Principal = { id: 'key:i', role: 'infer' };
const inferA: Principal = { id: 'key:ia', role: 'infer', models: new Set(['a']) };

function allowed(principal: Principal, access: Access): boolean | string {
  try {
    authorize(principal, access);
    return true;
  } catch (error) {
    assert.ok(isModelportError(error));
    return error.code;
  }
}

describe('authorize', () => {
  it('lets admin do everything', () => {
    for (const access of [OPEN, ANY, READ, ADMIN, { need: 'infer', model: 'x' }, { need: 'model', model: 'x' }] as Access[]) assert.equal(allowed(admin, access), true);
  });

  it('gives read metadata and statistics but neither inference nor changes', () => {
    assert.equal(allowed(reader, READ), true);
    assert.equal(allowed(reader, { need: 'model', model: 'a' }), true);
    assert.equal(allowed(reader, { need: 'infer', model: 'a' }), 'MP_ERR_AUTH_FORBIDDEN');
    assert.equal(allowed(reader, ADMIN), 'MP_ERR_AUTH_FORBIDDEN');
  });

  it('gives infer inference and model metadata, nothing that reads or changes the server', () => {
    assert.equal(allowed(inferAll, { need: 'infer', model: 'b' }), true);
    assert.equal(allowed(inferAll, { need: 'model', model: 'b' }), true);
    assert.equal(allowed(inferAll, ANY), true);
    assert.equal(allowed(inferAll, READ), 'MP_ERR_AUTH_FORBIDDEN');
    assert.equal(allowed(inferAll, ADMIN), 'MP_ERR_AUTH_FORBIDDEN');
  });

  it('answers a model outside a limited key as if it did not exist', () => {
    assert.equal(allowed(inferA, { need: 'infer', model: 'a' }), true);
    assert.equal(allowed(inferA, { need: 'infer', model: 'b' }), 'MP_ERR_MODEL_UNKNOWN');
    assert.throws(() => authorize(inferA, { need: 'model', model: 'b' }), /Request for unknown model: 'b' is not found/);
  });

  it('names the role a refused operation needs', () => {
    assert.throws(() => authorize(inferAll, ADMIN), /credential key:i has role 'infer'.*needs role 'admin'/);
  });
});
