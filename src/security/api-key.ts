/**
 * API keys: 256 random bits behind a public prefix and id (`mpk_<id>_<secret>`), shown once when
 * created and stored only as their SHA-256. A high-entropy key needs no slow password hash: its
 * digest cannot be reversed by guessing. The id lets the server find the record with one indexed
 * lookup; the digest comparison is constant-time. Where the records live is the ApiKeyStore's
 * business (the registry database).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from './roles.js';

export interface ApiKeyRecord {
  id: string;
  /** What the key is for, chosen by its creator ("ci-deployer"). */
  name: string;
  role: Role;
  /** The only models it may use, or null for all. */
  models: string[] | null;
  /** Hex SHA-256 of the whole key. */
  hash: string;
  createdAt: string;
  createdBy: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

/** Where key records are kept; implemented by the registry store. */
export interface ApiKeyStore {
  /** Throws MP_ERR_REGISTRY_CONFLICT when the id is taken. */
  createApiKey(record: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | undefined>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /** Marks it revoked; false when no such key. Revoking twice keeps the first time. */
  revokeApiKey(id: string, at: string): Promise<boolean>;
}

const KEY_PATTERN = /^mpk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  id: string;
  /** The key itself: give it to the user once, never store it. */
  key: string;
  hash: string;
}

export function generateApiKey(): NewApiKey {
  const id = randomBytes(8).toString('hex');
  const key = `mpk_${id}_${randomBytes(32).toString('base64url')}`;
  return { id, key, hash: hashApiKey(key) };
}

/** The record id of a string shaped like a key, or undefined. */
export function apiKeyId(text: string): string | undefined {
  return KEY_PATTERN.exec(text)?.[1];
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function keyMatches(key: string, hash: string): boolean {
  const actual = createHash('sha256').update(key, 'utf8').digest();
  const expected = Buffer.from(hash, 'hex');
  return expected.length === actual.length && timingSafeEqual(actual, expected);
}
