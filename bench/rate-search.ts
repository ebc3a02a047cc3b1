/**
 * The search for the highest rate a flow sustains: rising ×1.5 from the fixed rate until a rate
 * is not sustained, then bisection between the highest sustained and the lowest failed rate
 * until they are within 10% of each other.
 */

/** A rate tried, and whether it was sustained. */
export interface TriedRate {
  rate: number;
  sustained: boolean;
}

/** Options of {@link nextSearchRate}. */
export interface RateSearchOptions {
  /** No rate above this is tried (`--max-rate`). */
  maxRate: number;
  /**
   * Factor between two rates of the rising phase.
   * @default 1.5
   */
  growth?: number;
  /**
   * The search ends when the lowest failed rate is within this share above the highest sustained one.
   * @default 0.1
   */
  tolerance?: number;
}

const round1 = (value: number) => Math.round(value * 10) / 10;

/** The bounds the rates tried so far leave: the highest sustained rate, and the lowest failed rate above it (undefined while none failed). */
export function searchBounds(tried: TriedRate[]): { sustained?: number; failed?: number } {
  const sustained = tried.filter((t) => t.sustained).map((t) => t.rate);
  const highest = sustained.length === 0 ? undefined : Math.max(...sustained);
  const failedAbove = tried.filter((t) => !t.sustained && (highest === undefined || t.rate > highest)).map((t) => t.rate);
  return { sustained: highest, failed: failedAbove.length === 0 ? undefined : Math.min(...failedAbove) };
}

/**
 * The next rate to try, given every rate tried so far (the fixed rate first), or undefined when
 * the search is over: nothing was sustained, the next rising rate is above `maxRate`, or the
 * bounds are within the tolerance (or too close for rates of one decimal).
 */
export function nextSearchRate(tried: TriedRate[], options: RateSearchOptions): number | undefined {
  const { growth = 1.5, tolerance = 0.1 } = options;
  const bounds = searchBounds(tried);
  if (bounds.sustained === undefined) return undefined;
  if (bounds.failed === undefined) {
    const next = round1(bounds.sustained * growth);
    return next <= options.maxRate ? next : undefined;
  }
  if (bounds.failed - bounds.sustained <= tolerance * bounds.sustained) return undefined;
  const middle = round1((bounds.sustained + bounds.failed) / 2);
  return middle > bounds.sustained && middle < bounds.failed ? middle : undefined;
}
