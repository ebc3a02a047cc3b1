import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Type, type Static } from 'typebox';
import { GatewayLedger, type Charge } from './ledger.ts';
import { tokenBehaviour } from './tokens.ts';

const IdempotencyHeaders = Type.Object(
  { 'idempotency-key': Type.String({ minLength: 8, maxLength: 255, pattern: '^[A-Za-z0-9._:-]+$' }) },
  { required: ['idempotency-key'] },
);
const ChargeBody = Type.Object(
  {
    amountCents: Type.Integer({ minimum: 1 }),
    currency: Type.String({ minLength: 3, maxLength: 3 }),
    token: Type.String({ minLength: 1, maxLength: 100 }),
    reference: Type.String({ minLength: 1, maxLength: 200 }),
  },
  { additionalProperties: false },
);
const RefundBody = Type.Object({ reference: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

type ChargeRequest = FastifyRequest<{ Body: Static<typeof ChargeBody>; Headers: Static<typeof IdempotencyHeaders> }>;
type RefundRequest = FastifyRequest<{ Body: Static<typeof RefundBody>; Headers: Static<typeof IdempotencyHeaders> }>;

/** Options of {@link buildGatewayApp}. */
export interface GatewayOptions {
  ledger?: GatewayLedger;
  /** Request and application logs (the process's JSON logger, which names its service); none when omitted. */
  logger?: FastifyBaseLogger;
  /**
   * Called after a capture is booked and before it is answered, to script what happens while the
   * caller waits for the processor (tests use it to cancel an order "after the charge").
   */
  onCapture?: (charge: Charge) => Promise<void>;
}

const problem = (statusCode: number, code: string, error: string, message: string) => ({ statusCode, code, error, message });
const hashOf = (body: unknown) => createHash('sha256').update(JSON.stringify(body)).digest('hex');

/**
 * The payment gateway simulator: a stand-in for an external card processor's HTTP API.
 * Charges and refunds require an `Idempotency-Key`: the same key with the same body gets the same
 * answer (and moves no money again); the same key with another body gets 409.
 */
export function buildGatewayApp(options: GatewayOptions = {}): { app: FastifyInstance; ledger: GatewayLedger } {
  const ledger = options.ledger ?? new GatewayLedger();
  const app = Fastify(options.logger ? { loggerInstance: options.logger } : { logger: false });

  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string }, _request, reply) => {
    const statusCode = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    const code = err.validation ? 'invalid_request' : statusCode === 500 ? 'internal_error' : 'bad_request';
    void reply
      .status(statusCode)
      .send(problem(statusCode, code, statusCode === 500 ? 'Internal Server Error' : 'Bad Request', statusCode === 500 ? 'internal error' : err.message));
  });

  /** Replays the stored answer of a key, or rejects a key reused with another body. */
  const replay = (key: string, body: unknown, reply: FastifyReply): boolean => {
    const stored = ledger.storedResponse(key);
    if (!stored) return false;
    if (stored.requestHash !== hashOf(body)) {
      void reply.status(409).send(problem(409, 'idempotency_key_reused', 'Conflict', `Idempotency-Key ${key} was used with a different request body`));
    } else {
      void reply.header('idempotent-replayed', 'true').status(stored.statusCode).send(stored.body);
    }
    return true;
  };

  const answer = (key: string, body: unknown, reply: FastifyReply, statusCode: number, payload: unknown) => {
    ledger.storeResponse(key, { requestHash: hashOf(body), statusCode, body: payload });
    return reply.status(statusCode).send(payload);
  };

  app.post('/v1/charges', { schema: { headers: IdempotencyHeaders, body: ChargeBody } }, async (request: ChargeRequest, reply) => {
    const key = request.headers['idempotency-key'];
    if (replay(key, request.body, reply)) return reply;
    const attempt = ledger.countAttempt(key);
    const behaviour = tokenBehaviour(request.body.token);
    if (behaviour.kind === 'unavailable' || (behaviour.kind === 'fail_then_approve' && attempt <= behaviour.failures)) {
      // Transient: not stored, so a retry under the same key gets a fresh answer.
      return reply.status(503).send(problem(503, 'processor_unavailable', 'Service Unavailable', `processor unavailable (attempt ${attempt})`));
    }
    if (behaviour.kind === 'slow') await sleep(behaviour.delayMs);
    if (behaviour.kind === 'decline') {
      return answer(key, request.body, reply, 402, problem(402, 'card_declined', 'Payment Required', 'the card was declined'));
    }
    const charge = ledger.capture(key, hashOf(request.body), request.body.reference, request.body.amountCents, request.body.currency);
    await options.onCapture?.(charge);
    return reply.status(201).send(charge);
  });

  app.post('/v1/refunds', { schema: { headers: IdempotencyHeaders, body: RefundBody } }, (request: RefundRequest, reply) => {
    const key = request.headers['idempotency-key'];
    if (replay(key, request.body, reply)) return reply;
    const charge = ledger.chargeOf(request.body.reference);
    if (!charge) {
      return answer(key, request.body, reply, 404, problem(404, 'charge_not_found', 'Not Found', `no charge with reference ${request.body.reference}`));
    }
    if (charge.status === 'refunded') {
      return reply.status(409).send(problem(409, 'charge_already_refunded', 'Conflict', `charge ${charge.id} is already refunded`));
    }
    return reply.status(201).send(ledger.refund(key, hashOf(request.body), charge));
  });

  app.get(
    '/v1/charges',
    { schema: { querystring: Type.Object({ reference: Type.Optional(Type.String()) }) } },
    (request: FastifyRequest<{ Querystring: { reference?: string } }>) => {
      const { reference } = request.query;
      return { data: ledger.charges.filter((c) => reference === undefined || c.reference === reference) };
    },
  );

  app.get('/v1/refunds', () => ({ data: ledger.refunds }));

  app.get('/healthz', () => ({ status: 'ok' }));

  return { app, ledger };
}
