import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { ConfigError } from '../../platform/config.ts';
import type { Queryable } from '../../platform/database.ts';
import { keyRingOf, type PayloadKey } from '../../platform/payload-codec.ts';

const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The prefix of every payment reference: what events and workflow inputs carry instead of the token. */
export const paymentReferencePrefix = 'payref_';

/** Whether `value` is a payment reference rather than a token (an order placed before the vault carried the token itself). */
export const isPaymentReference = (value: string) => value.startsWith(paymentReferencePrefix);

/** Thrown when a reference names no token in the vault (never stored, or erased). Retrying does not help. */
export class PaymentReferenceUnknownError extends Error {
  override readonly name = 'PaymentReferenceUnknownError';
  constructor(readonly reference: string) {
    super(`payment reference ${reference} is not in the payment vault`);
  }
}

/** Thrown when a sealed token does not open: its key is not in PAYMENT_VAULT_KEYS, or the row was altered. */
export class PaymentVaultSealError extends Error {
  override readonly name = 'PaymentVaultSealError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The payments context's vault of payment tokens (table payments.vault). The API hands it the
 * token once, when it accepts an order, and gets a reference back; only the reference travels on
 * (events, workflow inputs, the read model, logs). The payments context opens the reference right
 * before it calls the gateway, in either flow.
 *
 * Tokens are sealed with AES-256-GCM under the newest key of the ring (older keys still open what
 * they sealed), with the reference as associated data.
 */
export class PaymentVault {
  private readonly byId: ReadonlyMap<string, Buffer>;
  private readonly current: PayloadKey;

  /** @param keys the key ring, newest last (see {@link paymentVaultOf}). */
  constructor(keys: readonly PayloadKey[]) {
    const current = keys.at(-1);
    if (!current) throw new Error('a payment vault needs at least one key');
    this.byId = new Map(keys.map(({ id, key }) => [id, key]));
    this.current = current;
  }

  /**
   * Stores the token of an order and answers its reference. Idempotent by order: a second call
   * for the same order (a retried request) answers the first reference and stores nothing.
   */
  async store(db: Queryable, entry: { orderId: string; customerId: string; token: string }): Promise<string> {
    const reference = `${paymentReferencePrefix}${randomUUID()}`;
    const { rows } = await db.query<{ reference: string }>(
      `with stored as (
         insert into payments.vault (reference, order_id, customer_id, key_id, sealed) values ($1, $2, $3, $4, $5)
         on conflict (order_id) do nothing returning reference)
       select reference from stored union all select reference from payments.vault where order_id = $2 limit 1`,
      [reference, entry.orderId, entry.customerId, this.current.id, this.seal(reference, entry.token)],
    );
    if (rows[0]) return rows[0].reference;
    // A concurrent store of the same order committed after this statement's snapshot: its row is visible now.
    const again = await db.query<{ reference: string }>('select reference from payments.vault where order_id = $1', [entry.orderId]);
    if (!again.rows[0]) throw new Error(`the payment vault stored nothing for order ${entry.orderId}`);
    return again.rows[0].reference;
  }

  /**
   * The token to charge with: the one `payment` refers to, or `payment` itself when it is not a
   * reference (an order accepted before the vault existed carried its token in its events and
   * workflow input; those still complete).
   */
  tokenOf(db: Queryable, payment: string): Promise<string> {
    return isPaymentReference(payment) ? this.reveal(db, payment) : Promise.resolve(payment);
  }

  /** The token a reference stands for. */
  async reveal(db: Queryable, reference: string): Promise<string> {
    const { rows } = await db.query<{ key_id: string; sealed: Buffer }>('select key_id, sealed from payments.vault where reference = $1', [reference]);
    const row = rows[0];
    if (!row) throw new PaymentReferenceUnknownError(reference);
    return this.open(reference, row.key_id, row.sealed);
  }

  private seal(reference: string, token: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.current.key, iv);
    cipher.setAAD(Buffer.from(reference, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, ciphertext, cipher.getAuthTag()]);
  }

  private open(reference: string, keyId: string, sealed: Buffer): string {
    const key = this.byId.get(keyId);
    if (!key) throw new PaymentVaultSealError(`payment reference ${reference} is sealed with key "${keyId}", which is not in PAYMENT_VAULT_KEYS`);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(reference, 'utf8'));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new PaymentVaultSealError(`payment reference ${reference} does not open: its sealed token was altered`, { cause: err });
    }
  }
}

/** The settings {@link paymentVaultOf} reads. */
export interface PaymentVaultSettings {
  PAYMENT_VAULT_KEYS?: string | undefined;
  PAYMENT_VAULT_KEYS_FILE?: string | undefined;
}

/**
 * The vault the settings configure: keys from `PAYMENT_VAULT_KEYS` (`id:base64,...`, newest last)
 * or the file `PAYMENT_VAULT_KEYS_FILE` (`[{ "id", "key" }]`), never from the repository.
 * @throws ConfigError when neither or both are set, the file cannot be read, or a key is malformed.
 */
export function paymentVaultOf(settings: PaymentVaultSettings): PaymentVault {
  const keys = keyRingOf('PAYMENT_VAULT_KEYS', settings.PAYMENT_VAULT_KEYS, settings.PAYMENT_VAULT_KEYS_FILE);
  if (!keys) throw new ConfigError('the payment vault needs PAYMENT_VAULT_KEYS or PAYMENT_VAULT_KEYS_FILE (npm start generates one)');
  return new PaymentVault(keys);
}
