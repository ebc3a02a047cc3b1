import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { installErrorHandler } from '../../src/api/error-handler.ts';
import { PartialSendError } from '../../src/messaging/renewing-producer.ts';
import { KafkaTimeoutError } from '../../src/platform/kafka.ts';
import { OrderNotFoundError } from '../../src/domain/errors.ts';
import { SagaUnavailableError } from '../../src/orchestration/order-saga-client.ts';

/** An app whose one route throws `err`, declaring what a dependency failure means for it. */
async function answerTo(err: unknown, ifUnavailable?: string) {
  const app = Fastify({ logger: false });
  installErrorHandler(app);
  app.post('/command', { config: ifUnavailable ? { ifUnavailable } : {} }, () => {
    throw err;
  });
  const res = await app.inject({ method: 'POST', url: '/command' });
  await app.close();
  return { status: res.statusCode, body: res.json<{ statusCode: number; code: string; error: string; message: string }>() };
}

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('the API error handler', () => {
  it.each([
    [
      'a broker that refuses connections (kafkajs)',
      new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:1'),
      /^Kafka is unavailable: /,
    ],
    [
      'kafkajs giving up its retries',
      new kafkajs.KafkaJSNumberOfRetriesExceeded(new Error('Connection timeout'), { retryCount: 5, retryTime: 100 }),
      /^Kafka is unavailable: /,
    ],
    [
      'a read past its deadline',
      new KafkaTimeoutError('read dlq.inventory to the end', 15000),
      /^Kafka did not read dlq\.inventory to the end within 15000 ms: /,
    ],
    ['a send a partition did not acknowledge', new PartialSendError(['order.placed:1']), /^Kafka is unavailable: /],
  ])('answers %s 503 DEPENDENCY_UNAVAILABLE, never a 500, saying what became of the request', async (_case, err, message) => {
    const { status, body } = await answerTo(err, 'some letters may have been replayed');
    expect(status).toBe(503);
    expect(body).toMatchObject({ statusCode: 503, code: 'DEPENDENCY_UNAVAILABLE', error: 'Service Unavailable' });
    expect(body.message).toMatch(message);
    expect(body.message).toMatch(/some letters may have been replayed$/);
  });

  it.each([
    [
      'a refused connection',
      withCode('connect ECONNREFUSED 127.0.0.1:5433', 'ECONNREFUSED'),
      503,
      'DEPENDENCY_UNAVAILABLE',
      /^PostgreSQL is unavailable: the command may not have been applied/,
    ],
    [
      'a server shutting down',
      withCode('terminating connection due to administrator command', '57P01'),
      503,
      'DEPENDENCY_UNAVAILABLE',
      /^PostgreSQL is unavailable/,
    ],
    ['a pool that cannot connect in time', new Error('timeout exceeded when trying to connect'), 503, 'DEPENDENCY_UNAVAILABLE', /^PostgreSQL is unavailable/],
    [
      "the pool's query deadline",
      new Error('Query read timeout'),
      504,
      'DEPENDENCY_TIMEOUT',
      /^PostgreSQL did not answer in time: the command may not have been applied/,
    ],
    ['a statement timeout', withCode('canceling statement due to statement timeout', '57014'), 504, 'DEPENDENCY_TIMEOUT', /^PostgreSQL did not answer in time/],
  ])('answers %s of PostgreSQL in the error shape, saying what became of the command', async (_case, err, status, code, message) => {
    const { status: answered, body } = await answerTo(err, 'the command may not have been applied');
    expect(answered).toBe(status);
    expect(body).toMatchObject({ statusCode: status, code, error: status === 503 ? 'Service Unavailable' : 'Gateway Timeout' });
    expect(body.message).toMatch(message);
  });

  it("answers a Temporal failure with the saga client's own outcome when it has one, else the route's", async () => {
    const update = await answerTo(
      new SagaUnavailableError(true, 'Temporal did not cancel the order within 5000 ms', 'the cancel may still be applied'),
      'route text',
    );
    expect(update).toEqual({
      status: 504,
      body: {
        statusCode: 504,
        code: 'DEPENDENCY_TIMEOUT',
        error: 'Gateway Timeout',
        message: 'Temporal did not cancel the order within 5000 ms: the cancel may still be applied',
      },
    });
    const start = await answerTo(
      new SagaUnavailableError(false, 'Temporal is unreachable, could not start the saga', undefined),
      'retry with the same Idempotency-Key',
    );
    expect(start.body).toMatchObject({
      statusCode: 503,
      code: 'DEPENDENCY_UNAVAILABLE',
      message: 'Temporal is unreachable, could not start the saga: retry with the same Idempotency-Key',
    });
  });

  it('answers a read whose dependency failed with "nothing was changed"', async () => {
    expect((await answerTo(withCode('read ECONNRESET', 'ECONNRESET'))).body.message).toBe('PostgreSQL is unavailable: nothing was changed; try again later');
  });

  it('keeps 404 for an unknown order and 500 without details for anything unexpected', async () => {
    expect(await answerTo(new OrderNotFoundError('o-1'))).toMatchObject({ status: 404, body: { code: 'ORDER_NOT_FOUND' } });
    expect(await answerTo(new Error('secret internals'))).toEqual({
      status: 500,
      body: { statusCode: 500, code: 'INTERNAL', error: 'Internal Server Error', message: 'the server failed to handle this request' },
    });
  });
});
