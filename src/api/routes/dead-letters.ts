import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import type { Kafka } from 'kafkajs';
import { Type } from 'typebox';
import { readDeadLetters, replayDeadLetters, type DeadLetter } from '../../messaging/dead-letters.ts';
import type { MessageSender } from '../../messaging/renewing-producer.ts';
import { actorOf } from '../auth.ts';
import type { DeadLetterReplay } from '../dead-letter-replays.ts';
// The types of the decorators the routes use (declaration merging on FastifyInstance).
import type {} from '../repositories.ts';
import { Problem } from '../schemas.ts';

/** Options of {@link deadLetterRoutes}. */
export interface DeadLetterRoutesOptions {
  kafka: Kafka;
  /** Sends replayed dead letters to their original topics (a renewing producer, acks=all). */
  producer: MessageSender;
  /** The consumer groups whose dead letters operators see: Kafka group id by display name (`inventory` → `staging.inventory`). */
  groups: Readonly<Record<string, string>>;
  /** How long a read (or the read of a replay) may take: see `DeadLetterReadOptions`. */
  readTimeoutMs?: number | undefined;
}

const tags = ['operations'];
// 503: Kafka (or PostgreSQL, for the replays) is unreachable or did not answer in time.
const failures = { 400: Problem, 500: Problem, 503: Problem, 504: Problem };

const DeadLetterView = Type.Object({
  group: Type.String(),
  id: Type.String({ description: '`partition:offset` in the dead-letter topic: what a replay names' }),
  key: Type.Union([Type.String(), Type.Null()]),
  originalTopic: Type.String(),
  originalPartition: Type.Union([Type.Integer(), Type.Null()]),
  originalOffset: Type.String(),
  error: Type.String({ description: 'why the consumer gave up on the message' }),
  attempts: Type.Union([Type.Integer(), Type.Null()]),
  failedAt: Type.String(),
  headers: Type.Record(Type.String(), Type.String()),
  value: Type.Unknown({ description: 'the message: parsed JSON, or its text when it is not JSON, or null' }),
  replays: Type.Array(Type.Object({ at: Type.String({ format: 'date-time' }), by: Type.String() }), {
    description: 'each replay through the API, oldest first',
  }),
});

/** The message of a dead letter: parsed when it is JSON (every event is), else its text. */
function valueOf(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const integerOr = (n: number) => (Number.isInteger(n) ? n : null);

/**
 * The dead letters of the choreographed flow's consumer groups and of the projector, for
 * operators: list them with what failed and why, and replay the chosen ones after the cause was
 * fixed (each replay recorded with who sent it). Kafka unreachable or too slow is a 503
 * DEPENDENCY_UNAVAILABLE (the error handler's `isKafkaFailure`), never a 500.
 */
export const deadLetterRoutes: FastifyPluginCallbackTypebox<DeadLetterRoutesOptions> = (app, options, done) => {
  const names = Object.keys(options.groups);
  if (names.length === 0) throw new Error('deadLetterRoutes: no consumer group given');
  const GroupName = Type.Enum(names, { description: 'a consumer group: the choreography’s and the projector' });
  const readOptions = options.readTimeoutMs === undefined ? {} : { timeoutMs: options.readTimeoutMs };

  const view = (group: string, letter: DeadLetter, replays: DeadLetterReplay[] = []) => ({
    group,
    id: letter.id,
    key: letter.key,
    originalTopic: letter.originalTopic,
    originalPartition: integerOr(letter.originalPartition),
    originalOffset: letter.originalOffset,
    error: letter.error,
    attempts: integerOr(letter.attempts),
    failedAt: letter.failedAt,
    headers: letter.headers,
    value: valueOf(letter.value),
    replays: replays.map((r) => ({ at: r.at.toISOString(), by: r.by })),
  });

  app.get(
    '/dead-letters',
    {
      schema: {
        operationId: 'listDeadLetters',
        summary: 'The dead letters of one consumer group, or of all, newest first, each with its replays',
        tags,
        querystring: Type.Object({ group: Type.Optional(GroupName) }, { additionalProperties: false }),
        response: { 200: Type.Object({ data: Type.Array(DeadLetterView) }), ...failures },
      },
      config: { access: ['operator'] },
    },
    async (request) => {
      const chosen = request.query.group === undefined ? names : [request.query.group];
      const groupIds = chosen.map((name) => options.groups[name]!);
      // One pass over every chosen group's dead-letter topic: one consumer group join, not one per group.
      const [letters, replays] = await Promise.all([readDeadLetters(options.kafka, groupIds, readOptions), app.deadLetterReplays.of(groupIds)]);
      const data = chosen.flatMap((name) => {
        const groupId = options.groups[name]!;
        return (letters.get(groupId) ?? []).map((letter) => view(name, letter, replays.get(groupId)?.get(letter.id)));
      });
      // Newest first; ISO timestamps of one clock format order as text.
      data.sort((a, b) => b.failedAt.localeCompare(a.failedAt) || a.group.localeCompare(b.group) || b.id.localeCompare(a.id));
      return { data };
    },
  );

  app.post(
    '/dead-letters/:group/replay',
    {
      schema: {
        operationId: 'replayDeadLetters',
        summary:
          'Publishes the chosen dead letters of a group again to their original topic (after the cause was fixed); ids it does not have are listed as unknown',
        tags,
        params: Type.Object({ group: GroupName }),
        body: Type.Object(
          {
            ids: Type.Array(Type.String({ pattern: '^\\d{1,9}:\\d{1,19}$', description: 'a dead letter id, partition:offset' }), {
              minItems: 1,
              maxItems: 100,
            }),
          },
          { additionalProperties: false, examples: [{ ids: ['0:0'] }] },
        ),
        response: {
          202: Type.Object({ group: Type.String(), replayed: Type.Array(Type.String()), unknown: Type.Array(Type.String()) }),
          ...failures,
          413: Problem,
          415: Problem,
        },
      },
      config: {
        access: ['operator'],
        ifUnavailable: 'some of the dead letters may have been replayed (and not recorded); replaying one again is harmless, the consumers are idempotent',
      },
    },
    async (request, reply) => {
      const { group } = request.params;
      const groupId = options.groups[group]!;
      const ids = [...new Set(request.body.ids)];
      const replayed = await replayDeadLetters(options.kafka, options.producer, groupId, ids, readOptions);
      await app.deadLetterReplays.record(groupId, replayed, actorOf(request.principal!));
      request.log.info({ group, replayed }, 'dead letters replayed');
      const sent = new Set(replayed);
      return reply.status(202).send({ group, replayed, unknown: ids.filter((id) => !sent.has(id)) });
    },
  );
  done();
};
