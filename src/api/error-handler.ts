import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { OrderSagaError, type ErrorCode } from '../domain/errors.ts';
import { FlowUnavailableError } from '../flows/flow-unavailable-error.ts';
import { isTransientDatabaseError } from '../platform/database-errors.ts';
import { PartialSendError } from '../messaging/renewing-producer.ts';
import { isKafkaFailure, KafkaTimeoutError } from '../platform/kafka.ts';
import { storableText, storableTextPattern } from './schemas.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What a client should know when a dependency fails during this route: whether its command
     * was accepted. Reads change nothing, hence the default.
     * @default 'nothing was changed; try again later'
     */
    ifUnavailable?: string;
  }
}

/** HTTP status of each of our error codes that a request can cause. */
const statusByCode: Partial<Record<ErrorCode, number>> = {
  ORDER_NOT_FOUND: 404,
  ORDER_STATE_CONFLICT: 409,
  ORDER_CONFLICT: 409,
  UNKNOWN_SKU: 422,
  OUT_OF_STOCK: 409,
};

const reasons: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The methods a route may have, in the order an `Allow` header lists them. */
const methods: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

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

/** The one error shape: `{ statusCode, code, error, message }`. */
export const problem = (statusCode: number, code: string, message: string) => ({ statusCode, code, error: reasons[statusCode] ?? 'Error', message });

/** Says what is wrong with a request that failed schema validation, naming the field. */
function validationMessage(err: FastifyError): string {
  const first = err.validation?.[0];
  if (!first) return err.message;
  const where = `${err.validationContext ?? 'request'}${first.instancePath}`;
  const params = first.params;
  if (first.keyword === 'additionalProperties') return `${where}/${String(params.additionalProperty)} is not a known field`;
  if (first.keyword === 'enum') return `${where} must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
  if (first.keyword === 'required') return `${where}/${String(params.missingProperty)} is required`;
  if ((first.keyword === 'pattern' && params.pattern === storableTextPattern) || (first.keyword === 'format' && params.format === storableText.format))
    return `${where} must not contain U+0000 (NUL) or an unpaired surrogate: the database cannot store them`;
  return `${where} ${first.message ?? 'is invalid'}`;
}

/**
 * A dependency that failed or did not answer in time, as 503 (unreachable: refused, or no worker;
 * Kafka, whatever its failure) or 504 (its deadline passed), with what became of the request; undefined for other errors.
 */
function dependencyFailure(err: unknown, request: FastifyRequest): { statusCode: 503 | 504; message: string } | undefined {
  const ifUnavailable = request.routeOptions.config.ifUnavailable ?? 'nothing was changed; try again later';
  if (err instanceof FlowUnavailableError)
    return { statusCode: err.timedOut ? 504 : 503, message: err.outcome ? err.message : `${err.message}: ${ifUnavailable}` };
  // Before PostgreSQL's checks, whose message patterns (a connection timeout) a kafkajs error can match.
  // 503 also when the deadline passed: a Kafka that does not answer is one kafkajs is still retrying.
  // A send some partition did not acknowledge (its leader moved) is Kafka's failing too.
  if (isKafkaFailure(err) || err instanceof PartialSendError)
    return { statusCode: 503, message: `${err instanceof KafkaTimeoutError ? err.message : 'Kafka is unavailable'}: ${ifUnavailable}` };
  const state = (err as { code?: unknown } | null)?.code;
  // query_timeout of the pool (pg's own message) or a statement_timeout (SQLSTATE 57014).
  if (state === '57014' || (err instanceof Error && err.message === 'Query read timeout'))
    return { statusCode: 504, message: `PostgreSQL did not answer in time: ${ifUnavailable}` };
  if (isTransientDatabaseError(err)) return { statusCode: 503, message: `PostgreSQL is unavailable: ${ifUnavailable}` };
  return undefined;
}

/**
 * Fastify's own answers before routing (a path parameter longer than the router takes, a
 * malformed URL), in the error shape. Passed as the `frameworkErrors` option.
 */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
    void reply.status(400).send(problem(400, 'VALIDATION_FAILED', 'params/id must NOT have more than 100 characters'));
  else void reply.status(400).send(problem(400, 'INVALID_URL', `the URL is not valid: ${err.message}`));
}

/** The methods `path` has routes for, in the order an `Allow` header lists them. */
export function allowedMethods(app: FastifyInstance, path: string): HTTPMethods[] {
  // A match through a catch-all (`OPTIONS *`, which @fastify/cors adds for preflights) is not a
  // method of this path: counting it would answer every unknown path 405 instead of 404.
  return methods.filter((method) => {
    const route = app.findRoute({ method, url: path });
    return route !== null && !('*' in route.params);
  });
}

/**
 * One error handler for the whole API: every error becomes `{ statusCode, code, error, message }`,
 * never a stack trace. A dependency that fails is a 503 or 504 that says whether the request was
 * accepted; unexpected errors are logged and answered 500 without details.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? request.url;
    const allowed = allowedMethods(app, path);
    if (allowed.length > 0) {
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send(problem(405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`));
    }
    return reply.status(404).send(problem(404, 'ROUTE_NOT_FOUND', `no route ${request.method} ${path}`));
  });

  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    if (err instanceof HttpProblem) return reply.status(err.statusCode).send(problem(err.statusCode, err.code, err.message));
    if (err instanceof OrderSagaError) {
      const status = statusByCode[err.code] ?? 500;
      if (status !== 500) return reply.status(status).send(problem(status, err.code, err.message));
    }
    const unavailable = dependencyFailure(err, request);
    if (unavailable) {
      request.log.warn({ err }, 'dependency unavailable');
      const code = unavailable.statusCode === 504 ? 'DEPENDENCY_TIMEOUT' : 'DEPENDENCY_UNAVAILABLE';
      return reply.status(unavailable.statusCode).send(problem(unavailable.statusCode, code, unavailable.message));
    }
    const fastifyError = err as FastifyError;
    if (fastifyError.validation) return reply.status(400).send(problem(400, 'VALIDATION_FAILED', validationMessage(fastifyError)));
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError) {
      return reply.status(400).send(problem(400, 'INVALID_JSON', `the body is not valid JSON: ${err.message}`));
    }
    if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.status(413).send(problem(413, 'BODY_TOO_LARGE', 'the body is larger than 64 KiB'));
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return reply.status(415).send(problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json'));
    if (fastifyError.statusCode && fastifyError.statusCode < 500) {
      return reply.status(fastifyError.statusCode).send(problem(fastifyError.statusCode, fastifyError.code ?? 'BAD_REQUEST', err.message));
    }
    request.log.error({ err }, 'request failed');
    return reply.status(500).send(problem(500, 'INTERNAL', 'the server failed to handle this request'));
  });
}
