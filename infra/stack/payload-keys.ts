import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StackConfig } from './config.ts';

/** The stack's Temporal payload key ring (git-ignored, under STACK_DATA_DIR): the worker and the API read it. */
export const payloadKeysFileOf = (config: Pick<StackConfig, 'STACK_DATA_DIR'>) => join(config.STACK_DATA_DIR, 'secrets', 'temporal-payload-keys.json');

/**
 * Writes a key ring file of the stack (the payload keys, the payment vault's) with one random
 * AES-256 key, once: an existing file is kept, since what was encrypted (histories in the stack's
 * Temporal database, tokens in its vault) needs its keys. Only the owner may read it.
 * Rotation is by hand (README "Encrypted workflow payloads"): add a key last, keep the old ones.
 */
export function ensurePayloadKeysFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const ring = [{ id: `stack-${new Date().toISOString().slice(0, 10)}`, key: randomBytes(32).toString('base64') }];
  try {
    // 'wx': never overwrites, also when two processes prepare at once.
    writeFileSync(path, `${JSON.stringify(ring, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** The stack's payment vault key ring (same form as the payload keys; git-ignored, under STACK_DATA_DIR): the API, the worker and the choreography read it. */
export const paymentVaultKeysFileOf = (config: Pick<StackConfig, 'STACK_DATA_DIR'>) => join(config.STACK_DATA_DIR, 'secrets', 'payment-vault-keys.json');

/**
 * The payment vault variables of the processes that place or charge orders: the stack's key
 * file, unless the person starting the stack configured keys of their own, which then win.
 */
export function paymentVaultKeysEnv(config: Pick<StackConfig, 'STACK_DATA_DIR'>, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.PAYMENT_VAULT_KEYS || env.PAYMENT_VAULT_KEYS_FILE) return {};
  return { PAYMENT_VAULT_KEYS_FILE: paymentVaultKeysFileOf(config) };
}

/**
 * The payload key variables of the application processes: the stack's key file, unless the person
 * starting the stack configured keys of their own (TEMPORAL_PAYLOAD_KEYS or _FILE), which then win.
 */
export function payloadKeysEnv(config: Pick<StackConfig, 'STACK_DATA_DIR'>, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.TEMPORAL_PAYLOAD_KEYS || env.TEMPORAL_PAYLOAD_KEYS_FILE) return {};
  return { TEMPORAL_PAYLOAD_KEYS_FILE: payloadKeysFileOf(config) };
}
