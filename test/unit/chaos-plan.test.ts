import { describe, expect, it } from 'vitest';
import {
  activeControllerFromLogs,
  completionRate,
  faultKinds,
  inFlightAt,
  instancesOf,
  p99InWindow,
  parseFaultList,
  planFaults,
  recoveryTime,
} from '../../bench/chaos-plan.ts';

const devProfile = ['postgres', 'kafka', 'temporal', 'zipkin', 'smtp-sink', 'payment-gateway', 'temporal-worker', 'choreography', 'api', 'projector'];
const clusterProfile = [
  'postgres',
  'kafka-1',
  'kafka-2',
  'kafka-3',
  'temporal-frontend',
  'temporal-history-1',
  'temporal-history-2',
  'temporal-matching-1',
  'temporal-matching-2',
  'temporal-internal-worker',
  'temporal-ui',
  'zipkin',
  'smtp-sink',
  'payment-gateway',
  'temporal-worker-1',
  'temporal-worker-2',
  'choreography-1',
  'choreography-2',
  'api-1',
  'api-2',
  'projector-1',
  'projector-2',
];

describe('chaos fault plan', () => {
  it('on the dev profile hits the one broker twice, the dev server as the frontend, and skips history and matching with the reason', () => {
    const plan = planFaults({ running: devProfile, controller: 'kafka' });
    expect(plan.map((f) => ('target' in f ? `${f.kind}: ${f.action} ${f.target}` : `${f.kind}: skipped`))).toEqual([
      'kafka-broker: kill -9 kafka',
      'kafka-controller: kill -9 kafka',
      'temporal-history: skipped',
      'temporal-matching: skipped',
      'temporal-frontend: kill -9 temporal',
      'worker: kill -9 temporal-worker',
      'choreography: kill -9 choreography',
      'projector: kill -9 projector',
      'api: kill -9 api',
      'postgres: restart postgres',
    ]);
    const history = plan.find((f) => f.kind === 'temporal-history');
    expect(history && 'skipped' in history ? history.skipped : '').toMatch(/dev profile runs Temporal as one process/);
    const controller = plan.find((f) => f.kind === 'kafka-controller');
    expect(controller && 'note' in controller ? controller.note : '').toMatch(/same broker/);
  });

  it('on the cluster profile hits one instance of each kind, a broker other than the controller, then the controller', () => {
    const plan = planFaults({ running: clusterProfile, controller: 'kafka-1' });
    expect(plan.map((f) => ('target' in f ? f.target : `skipped: ${f.skipped}`))).toEqual([
      'kafka-2',
      'kafka-1',
      'temporal-history-1',
      'temporal-matching-1',
      'temporal-frontend',
      'temporal-worker-1',
      'choreography-1',
      'projector-1',
      'api-1',
      'postgres',
    ]);
  });

  it('skips the controller fault when the controller is not a running broker process', () => {
    const [, controller] = planFaults({ running: ['kafka-1', 'kafka-2'] }, ['kafka-broker', 'kafka-controller']);
    expect(controller).toEqual({ kind: 'kafka-controller', skipped: expect.stringMatching(/could not be mapped/) as string });
  });

  it('skips a fault whose process is not running, naming what is missing', () => {
    const plan = planFaults({ running: ['postgres', 'kafka'] }, ['worker', 'postgres']);
    expect(plan).toEqual([
      { kind: 'worker', skipped: 'no Temporal worker process running' },
      { kind: 'postgres', target: 'postgres', action: 'restart' },
    ]);
  });

  it('numbers instances in numeric order and never mistakes another kind with the same prefix for an instance', () => {
    expect(instancesOf('api', ['api-10', 'api-2', 'api-1', 'apis'])).toEqual(['api-1', 'api-2', 'api-10']);
    expect(instancesOf('temporal', ['temporal-worker', 'temporal-frontend', 'temporal'])).toEqual(['temporal']);
  });

  it('finds the active KRaft controller as the node whose log shows the latest controller activation', () => {
    const activation = (at: string, id: number) =>
      `[2026-11-29 ${at}] WARN [QuorumController id=${id}] Performing controller activation. (org.apache.kafka.controller.QuorumController)`;
    const logs = {
      'kafka-1': [activation('15:35:22,430', 1), '[2026-11-29 15:50:00,000] INFO something else'].join('\n'),
      'kafka-2': [activation('15:49:04,262', 2)].join('\n'),
      'kafka-3': 'no activation here',
    };
    expect(activeControllerFromLogs(logs)).toBe('kafka-2');
    expect(activeControllerFromLogs({ 'kafka-3': 'nothing' })).toBeUndefined();
  });

  it('reads a fault list in the issue order and names an unknown fault with the known ones', () => {
    expect(parseFaultList('postgres, worker,kafka-broker')).toEqual(['kafka-broker', 'worker', 'postgres']);
    expect(parseFaultList('all')).toEqual([...faultKinds]);
    expect(() => parseFaultList('worker,zookeeper')).toThrow(/unknown fault zookeeper; known: kafka-broker/);
  });
});

describe('chaos measurements', () => {
  // Two completions a second (one every 500 ms) before a fault at 10 s, none for 5 s, then two a second again.
  const steady = (from: number, to: number) => Array.from({ length: (to - from) / 500 }, (_, i) => from + i * 500);
  const completions = [...steady(0, 10_000), ...steady(15_000, 30_000)];

  it('measures the pre-fault completion rate over a window', () => {
    expect(completionRate(completions, 2000, 10_000)).toBe(2);
    expect(completionRate(completions, 10_000, 10_000)).toBe(0);
  });

  it('counts recovery until the end of the first 2 s window after the fault that reaches 80% of the pre-fault rate', () => {
    // Windows slide by 250 ms; the first holding 4 × 0.8 = 3.2 completions, i.e. 4, is [14 750, 16 750): recovered 6.75 s after the fault.
    expect(recoveryTime(completions, { faultAt: 10_000, baselinePerS: 2, until: 30_000 })).toBe(6750);
  });

  it('gives the window width when the fault slowed nothing, and null when the load ended before throughput came back', () => {
    expect(recoveryTime(steady(0, 30_000), { faultAt: 10_000, baselinePerS: 2, until: 30_000 })).toBe(2000);
    expect(recoveryTime(completions, { faultAt: 10_000, baselinePerS: 2, until: 14_000 })).toBeNull();
  });

  it('takes the p99 of the orders sent in the window, an order that never ended counting as the slowest', () => {
    const orders = Array.from({ length: 100 }, (_, i) => ({ submittedAt: 1000 + i, terminalAt: 1000 + i + (i + 1) * 10 }));
    expect(p99InWindow(orders, 1000, 1100)).toBe(990);
    // Of ten orders the p99 is the slowest: the one that never ended.
    expect(p99InWindow([...orders.slice(0, 9), { submittedAt: 1009 }], 1000, 1100)).toBe(Infinity);
    expect(p99InWindow(orders, 5000, 6000)).toBeNull();
  });

  it('counts the orders in flight at the fault: sent before it and not yet ended', () => {
    const orders = [{ submittedAt: 0, terminalAt: 500 }, { submittedAt: 100, terminalAt: 2000 }, { submittedAt: 900 }, { submittedAt: 1500, terminalAt: 1600 }];
    expect(inFlightAt(orders, 1000)).toBe(2);
  });
});
