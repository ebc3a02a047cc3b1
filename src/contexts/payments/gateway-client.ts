import { PaymentDeclinedError, PaymentGatewayUnavailableError } from '../../domain/errors.ts';
import type { Money } from '../../domain/money.ts';

/** A captured charge, as the gateway reports it. */
export interface GatewayCharge {
  id: string;
  reference: string;
  amountCents: number;
  currency: string;
  status: 'captured' | 'refunded';
}

/** A refund, as the gateway reports it. */
export interface GatewayRefund {
  id: string;
  chargeId: string;
  amountCents: number;
  currency: string;
}

/** The calls the payments context makes to the card processor. */
export interface PaymentGateway {
  charge(request: { orderId: string; amount: Money; token: string }): Promise<GatewayCharge>;
  /** Refunds the charge of an order; null when the processor has no charge for it. */
  refund(orderId: string): Promise<GatewayRefund | null>;
}

/** Idempotency keys derived from the order, so every retry of a step sends the same key. */
export const chargeKey = (orderId: string) => `charge-${orderId}`;
export const refundKey = (orderId: string) => `refund-${orderId}`;

/** Options of {@link createHttpPaymentGateway}. */
export interface HttpPaymentGatewayOptions {
  baseUrl: string;
  /** @default 10_000 */
  timeoutMs?: number;
}

/**
 * The payment gateway over HTTP. Declines become {@link PaymentDeclinedError} (never retried);
 * 5xx answers, timeouts and connection errors become {@link PaymentGatewayUnavailableError}
 * (retried with the same Idempotency-Key, so the processor captures at most once).
 */
export function createHttpPaymentGateway(options: HttpPaymentGatewayOptions): PaymentGateway {
  const post = async (path: string, key: string, body: unknown): Promise<{ status: number; payload: unknown }> => {
    let response: Response;
    try {
      response = await fetch(new URL(path, options.baseUrl), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new PaymentGatewayUnavailableError((err as Error).message, { cause: err });
    }
    const payload: unknown = await response.json().catch(() => null);
    if (response.status >= 500) throw new PaymentGatewayUnavailableError(`HTTP ${response.status}`);
    return { status: response.status, payload };
  };
  const unexpected = (what: string, status: number, payload: unknown) =>
    new Error(`unexpected gateway answer to ${what}: HTTP ${status} ${JSON.stringify(payload)}`);

  return {
    async charge({ orderId, amount, token }) {
      const { status, payload } = await post('/v1/charges', chargeKey(orderId), {
        amountCents: amount.amountCents,
        currency: amount.currency,
        token,
        reference: orderId,
      });
      if (status === 201) return payload as GatewayCharge;
      if (status === 402) throw new PaymentDeclinedError(orderId, (payload as { message?: string } | null)?.message ?? 'declined');
      throw unexpected('a charge', status, payload);
    },
    async refund(orderId) {
      const { status, payload } = await post('/v1/refunds', refundKey(orderId), { reference: orderId });
      if (status === 201) return payload as GatewayRefund;
      if (status === 404) return null;
      throw unexpected('a refund', status, payload);
    },
  };
}
