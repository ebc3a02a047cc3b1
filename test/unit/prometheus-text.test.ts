import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../../src/observability/prometheus-text.ts';

describe('parsePrometheusText', () => {
  it('reads what prom-client serves: help and type skipped, labels, default labels, several series', async () => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: 'choreography' });
    const lag = new Gauge({ name: 'kafka_consumer_lag', help: 'lag "quoted" \\ help', labelNames: ['group', 'topic', 'partition'], registers: [registry] });
    lag.set({ group: 'orders', topic: 'order.placed', partition: '0' }, 3);
    lag.set({ group: 'orders', topic: 'order.placed', partition: '1' }, 0.5);
    new Gauge({ name: 'outbox_unsent_rows', help: 'rows', registers: [registry] }).set(7);
    expect(parsePrometheusText(await registry.metrics())).toEqual([
      { name: 'kafka_consumer_lag', labels: { group: 'orders', topic: 'order.placed', partition: '0', service: 'choreography' }, value: 3 },
      { name: 'kafka_consumer_lag', labels: { group: 'orders', topic: 'order.placed', partition: '1', service: 'choreography' }, value: 0.5 },
      { name: 'outbox_unsent_rows', labels: { service: 'choreography' }, value: 7 },
    ]);
  });

  it('unescapes label values as prom-client escapes them', async () => {
    const registry = new Registry();
    const odd = 'a "quoted" back\\slash\nnew line, {braces} = and, commas';
    new Gauge({ name: 'g', help: 'h', labelNames: ['v'], registers: [registry] }).set({ v: odd }, 1);
    expect(parsePrometheusText(await registry.metrics())).toEqual([{ name: 'g', labels: { v: odd }, value: 1 }]);
  });

  it('reads special values, exponents, timestamps, spaces around labels, a trailing comma, empty labels and OpenMetrics # EOF', () => {
    const text = [
      'a NaN',
      'b +Inf',
      'c{x="1"} -Inf 1700000000000',
      'd { x = "1" , y="2", } 1.5e3',
      'e{} -2',
      'f:rate_5m .5',
      '   # a comment with leading spaces',
      '',
      '# EOF',
    ].join('\n');
    const samples = parsePrometheusText(text);
    expect(samples.map((s) => s.name)).toEqual(['a', 'b', 'c', 'd', 'e', 'f:rate_5m']);
    expect(samples[0]!.value).toBeNaN();
    expect(samples.slice(1).map((s) => s.value)).toEqual([Infinity, -Infinity, 1500, -2, 0.5]);
    expect(samples[3]!.labels).toEqual({ x: '1', y: '2' });
    expect(samples[4]!.labels).toEqual({});
  });

  it.each([
    ['{x="1"} 1', 'line 1 of the metrics is not in the Prometheus text format: no metric name'],
    ['m{x=1} 1', 'the value of label x is not quoted'],
    ['m{x="1} 1', 'the value of label x is not closed'],
    ['m{x="\\t"} 1', 'label x has an unknown escape \\t'],
    ['m{x="1" y="2"} 1', '"," or "}" was expected after label x'],
    ['m{9="1"} 1', 'a label name was expected at column 3'],
    ['m', 'metric m has no value'],
    ['m one', 'the value of metric m is not a number: one'],
    ['m 0x10', 'the value of metric m is not a number: 0x10'],
    ['m 1 2 3', 'metric m has more than a value and a timestamp'],
    ['m 1 soon', 'metric m has more than a value and a timestamp'],
  ])('refuses %j, saying why', (line, message) => {
    expect(() => parsePrometheusText(`# HELP m m\n${line}`)).toThrow(message.startsWith('line') ? message.replace('line 1', 'line 2') : message);
  });

  it('names the line that is wrong', () => {
    expect(() => parsePrometheusText('ok 1\nok 2\nbroken')).toThrow('line 3 of the metrics is not in the Prometheus text format: metric broken has no value');
  });
});
