import { defineSearchAttributeKey } from '@temporalio/common';

/**
 * Typed keys of the order saga's custom search attributes (registered by the stack from
 * src/domain/search-attributes.ts). Imported by the workflow and by clients.
 */
export const orderSearchAttributeKeys = {
  orderId: defineSearchAttributeKey('OrderId', 'KEYWORD'),
  customerId: defineSearchAttributeKey('CustomerId', 'KEYWORD'),
  orderStatus: defineSearchAttributeKey('OrderStatus', 'KEYWORD'),
  orderTotal: defineSearchAttributeKey('OrderTotal', 'INT'),
  flow: defineSearchAttributeKey('Flow', 'KEYWORD'),
} as const;
