import { defineSearchAttributeKey } from '@temporalio/common';
import { orderSearchAttributes, type OrderSearchAttributeName } from '../domain/search-attributes.ts';

/** The SDK's name of each value type of src/domain/search-attributes.ts (the server's CLI spells them differently). */
const sdkTypeOf = { Keyword: 'KEYWORD', Int: 'INT' } as const;

const keyOf = <N extends OrderSearchAttributeName>(name: N) => defineSearchAttributeKey(name, sdkTypeOf[orderSearchAttributes[name]]);

/**
 * Typed keys of the order saga's custom search attributes, derived from their one definition in
 * src/domain/search-attributes.ts (which the stack registers). Imported by the workflow and by clients.
 */
export const orderSearchAttributeKeys = {
  orderId: keyOf('OrderId'),
  customerId: keyOf('CustomerId'),
  orderStatus: keyOf('OrderStatus'),
  orderTotal: keyOf('OrderTotal'),
  flow: keyOf('Flow'),
} as const satisfies { [N in OrderSearchAttributeName as Uncapitalize<N>]: unknown };
