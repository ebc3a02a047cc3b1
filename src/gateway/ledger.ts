import { randomUUID } from 'node:crypto';

/** A charge the simulated processor captured. */
export interface Charge {
  id: string;
  reference: string;
  amountCents: number;
  currency: string;
  status: 'captured' | 'refunded';
  createdAt: string;
}

/** A refund of a captured charge. */
export interface Refund {
  id: string;
  chargeId: string;
  reference: string;
  amountCents: number;
  currency: string;
  createdAt: string;
}

/** The answer stored under an Idempotency-Key, replayed for every later call with that key. */
export interface StoredResponse {
  requestHash: string;
  statusCode: number;
  body: unknown;
}

/**
 * The simulated processor's books: charges, refunds, stored answers per Idempotency-Key and the
 * attempt counts that drive the "fail the first N attempts" tokens. In memory: a restart of the
 * simulator starts a new, empty ledger.
 */
export class GatewayLedger {
  readonly charges: Charge[] = [];
  readonly refunds: Refund[] = [];
  private readonly responses = new Map<string, StoredResponse>();
  private readonly attempts = new Map<string, number>();

  /** Counts one more attempt under `key` and returns the count (1 for the first). */
  countAttempt(key: string): number {
    const count = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, count);
    return count;
  }

  storedResponse(key: string): StoredResponse | undefined {
    return this.responses.get(key);
  }

  storeResponse(key: string, response: StoredResponse): void {
    this.responses.set(key, response);
  }

  capture(reference: string, amountCents: number, currency: string): Charge {
    const charge: Charge = { id: `ch_${randomUUID()}`, reference, amountCents, currency, status: 'captured', createdAt: new Date().toISOString() };
    this.charges.push(charge);
    return charge;
  }

  refund(charge: Charge): Refund {
    charge.status = 'refunded';
    const refund: Refund = { id: `re_${randomUUID()}`, chargeId: charge.id, reference: charge.reference, amountCents: charge.amountCents, currency: charge.currency, createdAt: new Date().toISOString() };
    this.refunds.push(refund);
    return refund;
  }
}
