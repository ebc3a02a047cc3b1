import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomUUID } from 'node:crypto';
import type { Queryable } from '../../platform/database.ts';

// Crypto-shredding of the customer's personal data (migration 1795000600000_personal_data_keys.sql).

/** The prefix of a sealed value: `pii:v1:<key id>:<base64 of IV | ciphertext | tag>`. */
const sealedPrefix = 'pii:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Whether `value` is sealed personal data (rather than a value accepted before sealing existed). */
export const isSealed = (value: string) => value.startsWith(sealedPrefix);

/** The customer's key: the one it has, or a new one. */
async function keyOf(db: Queryable, customerId: string): Promise<{ keyId: string; key: Buffer }> {
  const { rows } = await db.query<{ key_id: string; key: Buffer }>(
    `with made as (
       insert into customers.personal_data_keys (key_id, customer_id, key) values ($1, $2, $3)
       on conflict (customer_id) do nothing returning key_id, key)
     select key_id, key from made union all select key_id, key from customers.personal_data_keys where customer_id = $2 limit 1`,
    [`pdk_${randomUUID()}`, customerId, randomBytes(32)],
  );
  const row =
    rows[0] ??
    (await db.query<{ key_id: string; key: Buffer }>('select key_id, key from customers.personal_data_keys where customer_id = $1', [customerId])).rows[0];
  if (!row) throw new Error(`no personal data key for customer ${customerId}`);
  return { keyId: row.key_id, key: row.key };
}

/**
 * Seals a piece of the customer's personal data with the customer's own key (AES-256-GCM, the
 * key id as associated data). The IV is derived from the key and the value (HMAC), so the same
 * value of the same customer seals to the same text: a retried order is the same order. That
 * tells only whether two sealed values of one customer are equal.
 */
export async function sealPersonalData(db: Queryable, customerId: string, value: string): Promise<string> {
  const { keyId, key } = await keyOf(db, customerId);
  const ivKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'order-saga personal data iv', 32));
  const iv = createHmac('sha256', ivKey).update(value).digest().subarray(0, IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(keyId, 'utf8'));
  const sealed = Buffer.concat([iv, cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${sealedPrefix}${keyId}:${sealed.toString('base64')}`;
}

/**
 * The value sealed in `sealed`; `sealed` itself when it is not sealed (data accepted before
 * sealing existed); undefined when the customer was erased (its key is gone).
 * @throws Error when the sealed text was altered.
 */
export async function openPersonalData(db: Queryable, sealed: string): Promise<string | undefined> {
  if (!isSealed(sealed)) return sealed;
  const rest = sealed.slice(sealedPrefix.length);
  const colon = rest.indexOf(':');
  const keyId = rest.slice(0, colon);
  const { rows } = await db.query<{ key: Buffer }>('select key from customers.personal_data_keys where key_id = $1', [keyId]);
  const key = rows[0]?.key;
  if (!key) return undefined;
  const bytes = Buffer.from(rest.slice(colon + 1), 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(Buffer.from(keyId, 'utf8'));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
}

/**
 * Erases the customer's personal data: deletes its keys, after which every value sealed with them,
 * wherever it was copied, is unreadable. Idempotent: erasing again deletes nothing more. A later
 * order of the same customer id gets a new key.
 */
export async function erasePersonalData(db: Queryable, customerId: string): Promise<{ keysDeleted: number; erasedAt: Date }> {
  const deleted = await db.query('delete from customers.personal_data_keys where customer_id = $1', [customerId]);
  const { rows } = await db.query<{ erased_at: Date; keys_deleted: number }>(
    `insert into customers.erasures (customer_id, keys_deleted) values ($1, $2)
     on conflict (customer_id) do update set erased_at = now(), keys_deleted = customers.erasures.keys_deleted + excluded.keys_deleted
     returning erased_at, keys_deleted`,
    [customerId, deleted.rowCount ?? 0],
  );
  return { keysDeleted: deleted.rowCount ?? 0, erasedAt: rows[0]!.erased_at };
}
