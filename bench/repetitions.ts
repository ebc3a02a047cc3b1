/** The median and the spread of a figure over repeated runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many runs the figure came from. */
  count: number;
}

/**
 * The median (the mean of the middle two for an even count), minimum and maximum of `values`,
 * leaving out the runs that lack the figure; undefined when none has it.
 */
export function medianAndSpread(values: (number | null | undefined)[]): Spread | undefined {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (present.length === 0) return undefined;
  const middle = Math.floor(present.length / 2);
  const median = present.length % 2 === 1 ? present[middle]! : (present[middle - 1]! + present[middle]!) / 2;
  return { median: Math.round(median * 10_000) / 10_000, min: present[0]!, max: present.at(-1)!, count: present.length };
}
