import { describe, expect, it } from 'vitest';
import { expectedEventsOf } from '../../bench/audit.ts';
import { chaosMix } from '../../bench/mix.ts';

const entry = (key: string) => chaosMix.find((m) => m.key === key)!.scenario;

describe('benchmark audit: the events an order must have', () => {
  it("expects payment.voided of a choreographed cancel during review, as the payments group answers every cancel, and not of the workflow's", () => {
    const scenario = entry('review_cancelled');
    expect(expectedEventsOf({ flow: 'choreographed', scenario })).toEqual([...scenario.expected.events, 'payment.voided']);
    expect(expectedEventsOf({ flow: 'orchestrated', scenario })).toEqual(scenario.expected.events);
  });

  it("expects exactly the scenario's events of every other order in either flow", () => {
    for (const key of ['approved', 'declined', 'review_approved', 'review_rejected']) {
      expect(expectedEventsOf({ flow: 'choreographed', scenario: entry(key) }), key).toEqual(entry(key).expected.events);
    }
  });
});
