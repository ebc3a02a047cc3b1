import { describe, expect, it } from 'vitest';
import { choreographySubscriptions, createChoreographyServices } from '../../src/choreography/services.ts';
import { backoffMs } from '../../src/messaging/consumer-runner.ts';

describe('choreography wiring', () => {
  it('subscribes each consumer group to exactly the event types it has handlers for', () => {
    const services = createChoreographyServices({ gateway: { charge: () => Promise.reject(new Error('unused')), refund: () => Promise.resolve(null) }, mailer: { sendMail: () => Promise.resolve() } as never });
    for (const [group, service] of Object.entries(services)) {
      expect({ group, types: Object.keys(service.handlers).sort() }).toEqual({ group, types: [...choreographySubscriptions[group as keyof typeof choreographySubscriptions]].sort() });
    }
  });
});

describe('consumer retry backoff', () => {
  it('doubles per attempt up to the cap, with full jitter below it', () => {
    expect([1, 2, 3, 4, 5, 6].map((attempt) => backoffMs(attempt, 200, 3000, () => 1))).toEqual([200, 400, 800, 1600, 3000, 3000]);
    expect(backoffMs(4, 200, 3000, () => 0.5)).toBe(800);
    expect(backoffMs(4, 200, 3000, () => 0)).toBe(0);
  });

  it('keeps every attempt of a message far inside the 30 s session timeout', () => {
    const worstCase = [1, 2, 3, 4].reduce((sum, attempt) => sum + backoffMs(attempt, 200, 3000, () => 1), 0);
    expect(worstCase).toBeLessThan(10_000);
  });
});
