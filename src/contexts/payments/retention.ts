import { deleteOlderThan, type Sweep } from '../../platform/retention.ts';

/**
 * The payment vault's sealed tokens past their retention (docs/retention.md): a token is needed
 * only until its order is charged (after a review at most, and the charge's retries), so it is
 * deleted `retentionMs` after it was stored. A charge asked for after that finds no token and fails
 * as a missing payment reference; the refunds of a charge use the gateway's charge id, never the token.
 */
export function paymentVaultSweep(retentionMs: number): Sweep {
  return {
    name: 'payments.vault',
    run: (client) => deleteOlderThan(client, 'payments.vault', 'created_at', retentionMs),
  };
}
