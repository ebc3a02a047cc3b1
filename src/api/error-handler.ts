import type { FastifyError, FastifyInstance } from 'fastify';
import { OrderSagaError, type ErrorCode } from '../domain/errors.ts';

/** HTTP status of each of our error codes that a request can cause. */
const statusByCode: Partial<Record<ErrorCode, number>> = {
  ORDER_NOT_FOUND: 404,
  ORDER_STATE_CONFLICT: 409,
  ORDER_CONFLICT: 409,
  UNKNOWN_SKU: 422,
  OUT_OF_STOCK: 409,
};

const reasons: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable' };

/** An error the API answers with a chosen status and code. */
export class HttpProblem extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Says what is wrong with a request that failed schema validation, naming the field. */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (!first) return err.message;
  const where = `${err.validationContext ?? 'request'}${first.instancePath}`;
  const params = first.params;
  if (first.keyword === 'additionalProperties') return `${where}/${String(params.additionalProperty)} is not a known field`;
  if (first.keyword === 'required') return `${where}/${String(params.missingProperty)} is required`;
  return `${where} ${first.message ?? 'is invalid'}`;
}

/**
 * One error handler for the whole API: every error becomes `{ statusCode, code, error, message }`,
 * never a stack trace. Unexpected errors are logged and answered 500 without details.
 */
export function installErrorHandler(app: FastifyInstance): void {
  const send = (statusCode: number, code: string, message: string) => ({ statusCode, code, error: reasons[statusCode] ?? 'Error', message });

  app.setNotFoundHandler((request, reply) => reply.status(404).send(send(404, 'ROUTE_NOT_FOUND', `no route ${request.method} ${request.url}`)));

  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    if (err instanceof HttpProblem) return reply.status(err.statusCode).send(send(err.statusCode, err.code, err.message));
    if (err instanceof OrderSagaError) {
      const status = statusByCode[err.code] ?? 500;
      if (status !== 500) return reply.status(status).send(send(status, err.code, err.message));
    }
    const fastifyError = err as FastifyError;
    if (fastifyError.validation) return reply.status(400).send(send(400, 'VALIDATION_FAILED', validationMessage(fastifyError)));
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      return reply.status(400).send(send(400, 'INVALID_JSON', `the body is not valid JSON: ${err.message}`));
    }
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send(send(413, 'BODY_TOO_LARGE', 'the body is larger than 64 KiB'));
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.status(415).send(send(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json'));
    if (fastifyError.statusCode && fastifyError.statusCode < 500) {
      return reply.status(fastifyError.statusCode).send(send(fastifyError.statusCode, fastifyError.code ?? 'BAD_REQUEST', err.message));
    }
    request.log.error({ err }, 'request failed');
    return reply.status(500).send(send(500, 'INTERNAL', 'the server failed to handle this request'));
  });
}
