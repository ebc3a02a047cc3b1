import type { OrderScenario } from '../test/scenarios/order-scenarios.ts';
import { orderScenarios } from '../test/scenarios/order-scenarios.ts';

/** One kind of order in the benchmark's mix: a scenario of the shared table and its share. */
export interface MixEntry {
  key: string;
  weight: number;
  scenario: OrderScenario;
}

const scenario = (prefix: string): OrderScenario => {
  const found = orderScenarios.find((s) => s.name.startsWith(prefix));
  if (!found) throw new Error(`no scenario starting with "${prefix}" in test/scenarios/order-scenarios.ts`);
  return found;
};

/**
 * The default mix (the example): 80% approved, 10% declined, 5% gateway failing
 * transiently (503 three times, then a charge), 5% out of stock. Orders that wait for a person
 * (review, cancel) are left out: a benchmark cannot wait for one.
 */
export const defaultMix: MixEntry[] = [
  { key: 'approved', weight: 80, scenario: scenario('approved card') },
  { key: 'declined', weight: 10, scenario: scenario('declined card') },
  { key: 'gateway_transient', weight: 5, scenario: scenario('gateway outage') },
  { key: 'out_of_stock', weight: 5, scenario: scenario('out of stock') },
];

/**
 * The kind of the `index`-th order: a deterministic interleaving that keeps every prefix of the
 * run close to the mix's shares (the largest remaining deficit goes next).
 */
export function mixSchedule(mix: MixEntry[], count: number): MixEntry[] {
  const total = mix.reduce((sum, m) => sum + m.weight, 0);
  const given = new Map(mix.map((m) => [m.key, 0]));
  const out: MixEntry[] = [];
  for (let i = 1; i <= count; i++) {
    let best = mix[0]!;
    let bestDeficit = -Infinity;
    for (const m of mix) {
      const deficit = (i * m.weight) / total - given.get(m.key)!;
      if (deficit > bestDeficit) [best, bestDeficit] = [m, deficit];
    }
    given.set(best.key, given.get(best.key)! + 1);
    out.push(best);
  }
  return out;
}

/**
 * The chaos run's mix (bench/chaos.ts): the default mix, with orders a person acts on, since
 * the chaos runner plays that person: reviews approved and rejected, and a cancel during review.
 */
export const chaosMix: MixEntry[] = [
  { key: 'approved', weight: 70, scenario: scenario('approved card') },
  { key: 'declined', weight: 10, scenario: scenario('declined card') },
  { key: 'gateway_transient', weight: 5, scenario: scenario('gateway outage') },
  { key: 'out_of_stock', weight: 5, scenario: scenario('out of stock') },
  { key: 'review_approved', weight: 4, scenario: scenario('reviewed order that is approved') },
  { key: 'review_rejected', weight: 3, scenario: scenario('reviewed order that is rejected') },
  { key: 'review_cancelled', weight: 3, scenario: scenario('customer cancelling during review') },
];
