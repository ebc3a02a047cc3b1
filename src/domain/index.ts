export * from './events.ts';
export * from './errors.ts';
export * from './money.ts';
export * from './order.ts';
export * from './saga-steps.ts';
export * from './search-attributes.ts';
