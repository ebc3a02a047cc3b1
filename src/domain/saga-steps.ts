/** The forward steps of the order saga, in the order they run. */
export type SagaStep = 'accept_order' | 'reserve_stock' | 'review' | 'charge_payment' | 'confirm_order' | 'notify_customer';

/** The undo of a step, run in reverse order when the saga fails or the customer cancels. */
export type Compensation = 'refund_payment' | 'release_stock';

/** Email templates the notifications context sends. */
export type NotificationTemplate = 'order_confirmed' | 'order_cancelled';
