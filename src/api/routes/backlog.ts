import type { FastifyPluginCallbackTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { parsePrometheusText, type PrometheusSample } from '../../observability/prometheus-text.ts';
import { Problem } from '../schemas.ts';

/** A `/metrics` endpoint the backlog is read from, and the name the answer gives it. */
export interface MetricsSource {
  name: string;
  url: string;
}

/** Options of {@link backlogRoutes}. */
export interface BacklogRoutesOptions {
  /** The choreography and projector processes' metrics endpoints (every instance's). */
  sources: readonly MetricsSource[];
  /** Kafka group id by display name (as `deadLetters.groups`): the answer names a group it knows by its display name. */
  groups?: Readonly<Record<string, string>> | undefined;
  /**
   * How long each scrape may take.
   * @default 2000
   */
  scrapeTimeoutMs?: number;
}

const tags = ['operations'];

/** What one source reported: its samples of the backlog metrics, or why it could not be read. */
export type Scrape = { source: MetricsSource; samples: PrometheusSample[] } | { source: MetricsSource; error: string };

const BacklogResponse = Type.Object({
  scrapedAt: Type.String({ format: 'date-time' }),
  groups: Type.Array(
    Type.Object({
      group: Type.String({ description: 'the display name of a known group (orders, inventory, ..., projector), else its Kafka group id' }),
      groupId: Type.String({ description: 'the Kafka consumer group id' }),
      lag: Type.Union([Type.Number(), Type.Null()], { description: 'messages not yet processed, over all partitions; null when no source reported it' }),
      deadLetters: Type.Union([Type.Number(), Type.Null()], { description: "messages in the group's dead-letter topic; null when no source reported it" }),
    }),
  ),
  outbox: Type.Union([Type.Object({ rows: Type.Number(), oldestAgeSeconds: Type.Number() }), Type.Null()], {
    description: 'the unsent outbox rows and the age of the oldest; null when no source reported them',
  }),
  sources: Type.Array(Type.Object({ name: Type.String(), url: Type.String(), ok: Type.Boolean(), error: Type.Optional(Type.String()) })),
});

/** Reads `url` as a Prometheus exposition within `timeoutMs`. */
async function scrape(source: MetricsSource, timeoutMs: number): Promise<Scrape> {
  try {
    const response = await fetch(source.url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'text/plain' } });
    const text = await response.text();
    if (!response.ok) return { source, error: `answered ${response.status}` };
    return { source, samples: parsePrometheusText(text) };
  } catch (err) {
    const reason = err instanceof Error && err.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : errorText(err);
    return { source, error: reason };
  }
}

/** An error's message, with its cause's (fetch says "fetch failed" and puts the reason, e.g. ECONNREFUSED, in the cause). */
function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${(err.cause as Error & { code?: string }).code ?? err.cause.message}` : '';
  return `${err.message}${cause}`;
}

/**
 * The backlog the sources report together: per consumer group the lag (`kafka_consumer_lag`
 * summed over partitions) and the dead letters (`kafka_dlq_depth`), and the outbox
 * (`outbox_unsent_rows`, `outbox_oldest_unsent_age_seconds`). Where several sources report the same
 * group or the outbox (the instances of one process in the cluster profile), the largest figure
 * is taken: they read the same committed offsets and the same table, a moment apart. `groups`
 * (Kafka group id by display name) names the groups it knows.
 */
export function summarizeBacklog(scrapes: readonly Scrape[], groups: Readonly<Record<string, string>> = {}) {
  const groupNames = Object.fromEntries(Object.entries(groups).map(([name, groupId]) => [groupId, name]));
  const lag = new Map<string, number>();
  const dlq = new Map<string, number>();
  let rows: number | undefined;
  let age: number | undefined;
  const larger = (current: number | undefined, value: number) => (current === undefined ? value : Math.max(current, value));
  for (const scraped of scrapes) {
    if (!('samples' in scraped)) continue;
    const sourceLag = new Map<string, number>();
    for (const { name, labels, value } of scraped.samples) {
      const group = labels.group;
      if (name === 'kafka_consumer_lag' && group !== undefined) sourceLag.set(group, (sourceLag.get(group) ?? 0) + value);
      else if (name === 'kafka_dlq_depth' && group !== undefined) dlq.set(group, larger(dlq.get(group), value));
      else if (name === 'outbox_unsent_rows') rows = larger(rows, value);
      else if (name === 'outbox_oldest_unsent_age_seconds') age = larger(age, value);
    }
    for (const [group, value] of sourceLag) lag.set(group, larger(lag.get(group), value));
  }
  const groupIds = [...new Set([...lag.keys(), ...dlq.keys()])];
  return {
    groups: groupIds
      .map((groupId) => ({ group: groupNames[groupId] ?? groupId, groupId, lag: lag.get(groupId) ?? null, deadLetters: dlq.get(groupId) ?? null }))
      .sort((a, b) => a.group.localeCompare(b.group)),
    outbox: rows === undefined && age === undefined ? null : { rows: rows ?? 0, oldestAgeSeconds: age ?? 0 },
    sources: scrapes.map((s) => ({ name: s.source.name, url: s.source.url, ok: 'samples' in s, ...('error' in s ? { error: s.error } : {}) })),
  };
}

/**
 * The backlog of the choreographed flow and the projector, for the console's Operate tab: read
 * from the processes' own `/metrics` (what Prometheus scrapes), so that it needs no Prometheus. A
 * source that cannot be read is reported as such, never a failed request.
 */
export const backlogRoutes: FastifyPluginCallbackTypebox<BacklogRoutesOptions> = (app, options, done) => {
  app.get(
    '/operations/backlog',
    {
      schema: {
        operationId: 'getBacklog',
        summary: "Consumer lag and dead letters per group, and the outbox, from the processes' metrics (each source's outcome listed)",
        tags,
        response: { 200: BacklogResponse, 500: Problem },
      },
      config: { access: ['operator'] },
    },
    async () => {
      const timeoutMs = options.scrapeTimeoutMs ?? 2000;
      const scrapedAt = new Date().toISOString();
      const scrapes = await Promise.all(options.sources.map((source) => scrape(source, timeoutMs)));
      return { scrapedAt, ...summarizeBacklog(scrapes, options.groups) };
    },
  );
  done();
};
