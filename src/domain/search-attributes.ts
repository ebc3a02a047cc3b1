/**
 * The custom search attributes of an order saga, by name and Temporal value type.
 *
 * The dev server registers them at start (`--search-attribute`), a real cluster needs them
 * registered once by an operator (`temporal operator search-attribute create`), and the workflow
 * upserts them at each transition so the Temporal Web UI can list and filter orders.
 */
export const orderSearchAttributes = {
  OrderId: 'Keyword',
  CustomerId: 'Keyword',
  OrderStatus: 'Keyword',
  OrderTotal: 'Int',
  Flow: 'Keyword',
} as const;

/** Name of one of the order saga's custom search attributes. */
export type OrderSearchAttributeName = keyof typeof orderSearchAttributes;
