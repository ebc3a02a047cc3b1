import { randomBytes } from 'node:crypto';
import { paymentVaultOf } from '../../../src/contexts/payments/payment-vault.ts';

/**
 * The payment vault's key ring of this test process (`PAYMENT_VAULT_KEYS` form), made on the
 * spot: what the flows in this process use, and what a child process of a test (a worker, a
 * choreography instance) gets in its environment to open the same references.
 */
export const testVaultKeys = `test-vault:${randomBytes(32).toString('base64')}`;

/**
 * The payment vault of the test runtimes. Tests below the order router (which is where a new
 * order's token goes into the vault) hand a flow the gateway token itself where the reference
 * goes: the payments context charges a value that is not a reference as it is, the path of orders
 * accepted before the vault existed. The vault's own path is what the API tests drive.
 */
export const testVault = paymentVaultOf({ PAYMENT_VAULT_KEYS: testVaultKeys });
