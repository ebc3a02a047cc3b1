import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { summarizeBacklog, type Scrape } from '../../src/api/routes/backlog.ts';
import { parsePrometheusText } from '../../src/observability/prometheus-text.ts';
import { ApiOperationsEnv, ConfigError, loadConfig, metricsSourcesOf } from '../../src/platform/config.ts';

const source = (name: string) => ({ name, url: `http://127.0.0.1:1/${name}` });
const scraped = (name: string, text: string): Scrape => ({ source: source(name), samples: parsePrometheusText(text) });

describe('the backlog the metrics sources report together', () => {
  it('sums the lag of a group over its partitions, and takes the largest where two instances report the same group or the outbox', () => {
    const first = scraped(
      'choreography-1',
      [
        'kafka_consumer_lag{group="p.orders",topic="p.order.placed",partition="0"} 2',
        'kafka_consumer_lag{group="p.orders",topic="p.order.placed",partition="1"} 3',
        'kafka_consumer_lag{group="p.inventory",topic="p.order.placed",partition="0"} 1',
        'kafka_dlq_depth{group="p.orders"} 0',
        'kafka_dlq_depth{group="p.inventory"} 4',
        'outbox_unsent_rows 5',
        'outbox_oldest_unsent_age_seconds 1.5',
        'process_cpu_seconds_total 9',
      ].join('\n'),
    );
    // A moment later: more lag on orders (summed 7 > 5), less on inventory, an older outbox row.
    const second = scraped(
      'choreography-2',
      [
        'kafka_consumer_lag{group="p.orders",topic="p.order.placed",partition="0"} 7',
        'kafka_consumer_lag{group="p.inventory",topic="p.order.placed",partition="0"} 0',
        'kafka_dlq_depth{group="p.inventory"} 4',
        'outbox_unsent_rows 4',
        'outbox_oldest_unsent_age_seconds 2.5',
      ].join('\n'),
    );
    const projector = scraped(
      'projector-1',
      'kafka_consumer_lag{group="p.projector",topic="p.order.placed",partition="2"} 6\nkafka_dlq_depth{group="p.projector"} 1',
    );
    const down: Scrape = { source: source('projector-2'), error: 'fetch failed: ECONNREFUSED' };
    expect(summarizeBacklog([first, second, projector, down], { orders: 'p.orders', inventory: 'p.inventory', projector: 'p.projector' })).toEqual({
      groups: [
        { group: 'inventory', groupId: 'p.inventory', lag: 1, deadLetters: 4 },
        { group: 'orders', groupId: 'p.orders', lag: 7, deadLetters: 0 },
        { group: 'projector', groupId: 'p.projector', lag: 6, deadLetters: 1 },
      ],
      outbox: { rows: 5, oldestAgeSeconds: 2.5 },
      sources: [
        { name: 'choreography-1', url: 'http://127.0.0.1:1/choreography-1', ok: true },
        { name: 'choreography-2', url: 'http://127.0.0.1:1/choreography-2', ok: true },
        { name: 'projector-1', url: 'http://127.0.0.1:1/projector-1', ok: true },
        { name: 'projector-2', url: 'http://127.0.0.1:1/projector-2', ok: false, error: 'fetch failed: ECONNREFUSED' },
      ],
    });
  });

  it('names a group it does not know by its id, says null for what no source reported, and has no outbox when none reported it', () => {
    expect(summarizeBacklog([scraped('projector', 'kafka_dlq_depth{group="other.g"} 2')])).toEqual({
      groups: [{ group: 'other.g', groupId: 'other.g', lag: null, deadLetters: 2 }],
      outbox: null,
      sources: [{ name: 'projector', url: 'http://127.0.0.1:1/projector', ok: true }],
    });
    expect(summarizeBacklog([])).toEqual({ groups: [], outbox: null, sources: [] });
  });
});

describe('API_OPERATIONS_METRICS_URLS', () => {
  const load = (env: Record<string, string>) => loadConfig(Type.Object(ApiOperationsEnv), env);

  it('is empty by default: no source', () => {
    expect(metricsSourcesOf(load({}))).toEqual([]);
  });

  it('reads name=url pairs, separated by commas', () => {
    expect(
      metricsSourcesOf(load({ API_OPERATIONS_METRICS_URLS: ' choreography-1=http://127.0.0.1:9466/metrics , projector=https://p.example:9467/metrics' })),
    ).toEqual([
      { name: 'choreography-1', url: 'http://127.0.0.1:9466/metrics' },
      { name: 'projector', url: 'https://p.example:9467/metrics' },
    ]);
  });

  it.each([
    ['a url without a name', 'http://127.0.0.1:9466/metrics'],
    ['a name without a url', 'choreography='],
    ['a url that is not http', 'c=ftp://x/metrics'],
  ])('refuses %s', (_case, value) => {
    expect(() => load({ API_OPERATIONS_METRICS_URLS: value })).toThrow(ConfigError);
    expect(() => load({ API_OPERATIONS_METRICS_URLS: value })).toThrow(/API_OPERATIONS_METRICS_URLS/);
  });
});
