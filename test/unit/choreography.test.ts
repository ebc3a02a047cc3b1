import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../infra/stack/paths.ts';
import { choreographySubscriptions, createChoreographyServices } from '../../src/choreography/services.ts';
import { choreographyPoolSize } from '../../src/choreography/runtime.ts';
import {
  DataRejectedError,
  EventPublishFailedError,
  NotificationFailedError,
  OrderConflictError,
  PaymentDeclinedError,
  PaymentGatewayUnavailableError,
} from '../../src/domain/errors.ts';
import { backoffMs, classifyFailure } from '../../src/messaging/consumer-runner.ts';

describe('choreography wiring', () => {
  /** The event types each group listens to, per the table of docs/choreographed-flow.md (the flow's version of DESIGN.md's). */
  const documentedSubscriptions = () => {
    const table = new Map<string, Set<string>>();
    for (const line of readFileSync(join(projectRoot, 'docs/choreographed-flow.md'), 'utf8').split('\n')) {
      const [group, listensTo] = line
        .split('|')
        .slice(1, 3)
        .map((cell) => cell.trim());
      if (!group || !listensTo || !Object.hasOwn(choreographySubscriptions, group)) continue;
      for (const [, type] of listensTo.matchAll(/`([a-z_]+\.[a-z_]+)`/g)) (table.get(group) ?? table.set(group, new Set()).get(group)!).add(type!);
    }
    return Object.fromEntries([...table].map(([group, types]) => [group, [...types].sort()]));
  };

  it('subscribes each consumer group to exactly the event types of the documented choreography table', () => {
    const derived = Object.fromEntries(Object.entries(choreographySubscriptions).map(([group, types]) => [group, [...types].sort()]));
    expect(derived).toEqual(documentedSubscriptions());
    expect(Object.keys(derived).sort()).toEqual(['inventory', 'notifications', 'orders', 'payments']);
  });

  it("derives each group's subscriptions from its handlers", () => {
    const services = createChoreographyServices({
      gateway: { charge: () => Promise.reject(new Error('unused')), refund: () => Promise.resolve(null) },
      mailer: { sendMail: () => Promise.resolve() } as never,
      vault: { tokenOf: () => Promise.reject(new Error('unused')) },
    });
    for (const [group, service] of Object.entries(services)) {
      expect({ group, types: Object.keys(service.handlers).sort() }).toEqual({
        group,
        types: [...choreographySubscriptions[group as keyof typeof choreographySubscriptions]].sort(),
      });
    }
  });
});

describe('consumer retry backoff', () => {
  it('doubles per attempt up to the cap, with full jitter below it', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffMs(attempt, 200, 3000, () => 1))).toEqual([200, 400, 800, 1600, 3000, 3000]);
    expect(backoffMs(4, 200, 3000, () => 0.5)).toBe(800);
    expect(backoffMs(4, 200, 3000, () => 0)).toBe(0);
  });

  it('stays at the cap however many attempts a long outage takes', () => {
    expect(backoffMs(16, 200, 3000, () => 1)).toBe(3000);
    expect(backoffMs(1000, 200, 3000, () => 1)).toBe(3000);
  });
});

describe('consumer failure handling', () => {
  const pgError = (code: string, message = 'from PostgreSQL') => Object.assign(new Error(message), { code });

  it('dead-letters data the database refuses at once, as DATA_REJECTED', () => {
    const handling = classifyFailure(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'));
    expect(handling.action).toBe('dead-letter');
    expect(handling.action === 'dead-letter' && handling.error).toBeInstanceOf(DataRejectedError);
    expect(handling.action === 'dead-letter' && (handling.error as DataRejectedError).code).toBe('DATA_REJECTED');
  });

  it('waits for the database when it is away, however long, instead of dead-lettering', () => {
    for (const err of [pgError('57P01'), pgError('ECONNREFUSED'), new Error('Connection terminated unexpectedly'), pgError('40001')]) {
      expect(classifyFailure(err)).toEqual({ action: 'wait-for-database' });
    }
  });

  it('retries an unavailable gateway, SMTP or broker and unexpected errors, and dead-letters business failures at once', () => {
    for (const err of [
      new PaymentGatewayUnavailableError('fetch failed'),
      new NotificationFailedError('o-1', 'ECONNREFUSED'),
      new EventPublishFailedError('order.placed', 'broker away'),
      new Error('gateway hiccup'),
    ]) {
      expect(classifyFailure(err)).toEqual({ action: 'retry' });
    }
    expect(classifyFailure(new OrderConflictError('o-1')).action).toBe('dead-letter');
    expect(classifyFailure(new PaymentDeclinedError('o-1', 'insufficient funds')).action).toBe('dead-letter');
  });
});

describe('choreography pool size', () => {
  it('holds one connection per event in flight, two per relay, the sweeper and the gauges', () => {
    expect(choreographyPoolSize({ groups: 4, relays: 1, sweeper: true })).toBe(4 * 3 + 2 + 1 + 1 + 2);
    expect(choreographyPoolSize({ groups: 1, relays: 0, sweeper: false })).toBe(3 + 1 + 2);
  });
});
