import { OrderNotFoundError, OrderStateConflictError } from '../domain/errors.ts';
import { isFinal, type Flow, type NewOrder } from '../domain/order.ts';
import type { OrderCommand, OrderFlow, OrderFlowStatus, OrderFlows } from './order-flows.ts';

/** What {@link createOrderRouter} routes between; the entry points build it. */
export interface OrderRouterDeps {
  /** One implementation of each flow. */
  flows: Readonly<Record<Flow, OrderFlow>>;
  /** The flow that runs an order, undefined when no order has this id (src/contexts/orders: `flowOf`). */
  flowOf: (orderId: string) => Promise<Flow | undefined>;
  /**
   * Hands a new order's payment token to the payments context (its vault) and answers the
   * reference the flow carries instead; the same order answers the same reference.
   */
  vaultPaymentToken: (entry: { orderId: string; customerId: string; token: string }) => Promise<string>;
  /**
   * Seals a piece of the customer's personal data with the customer's own key (src/contexts/customers),
   * so that erasing the customer makes every copy unreadable; the same value seals the same way.
   */
  sealPersonalData: (customerId: string, value: string) => Promise<string>;
  /**
   * The orders context's record of an order (src/contexts/orders: `getOrder`): what an
   * orchestrated order is known by once Temporal no longer keeps its saga, past the namespace's
   * retention (docs/retention.md). Without it, such an order answers OrderNotFoundError.
   */
  recordOf?: (orderId: string) => Promise<Pick<OrderFlowStatus, 'status' | 'reason' | 'total'>>;
}

/** Why a command is refused on an orchestrated order whose saga Temporal no longer keeps. */
const sagaPastRetention = 'its saga ended longer ago than Temporal keeps a closed workflow (the namespace retention)';

/**
 * Routes each call to the flow that runs the order: the orders context records the flow with the
 * order. An order it does not know goes to the orchestrated flow: the saga writes its order row
 * in its first step, so a saga just started may not have one yet, and the saga answers
 * OrderNotFoundError for an id it does not have either. A new order's payment token goes into
 * the payments vault, and its email is sealed with the customer's key, before the flow sees the order.
 */
export function createOrderRouter(deps: OrderRouterDeps): OrderFlows {
  /**
   * Runs `call` on the flow that runs the order. An orchestrated order the orders context knows
   * but Temporal does not (its saga closed and was deleted after the namespace's retention) is
   * answered by `ended` from its record, not as an order that does not exist.
   */
  const routed = async <T>(
    orderId: string,
    call: (flow: OrderFlow) => Promise<T>,
    ended: (record: Pick<OrderFlowStatus, 'status' | 'reason' | 'total'>) => T,
  ): Promise<T> => {
    const flow = await deps.flowOf(orderId);
    try {
      return await call(deps.flows[flow ?? 'orchestrated']);
    } catch (err) {
      if (!(flow === 'orchestrated' && err instanceof OrderNotFoundError && deps.recordOf)) throw err;
      return ended(await deps.recordOf(orderId));
    }
  };
  return {
    flow: (name: Flow) => deps.flows[name],
    // The token goes into the vault here, once, and the email is sealed with the customer's key:
    // past this line only the reference and the sealed email travel.
    place: async (flow: Flow, { paymentToken, email, ...order }: NewOrder, correlationId: string) => {
      // Independent of each other: one round trip's wait, not two.
      const [paymentRef, sealedEmail] = await Promise.all([
        deps.vaultPaymentToken({ orderId: order.orderId, customerId: order.customerId, token: paymentToken }),
        deps.sealPersonalData(order.customerId, email),
      ]);
      return deps.flows[flow].place({ ...order, email: sealedEmail, paymentRef }, correlationId);
    },
    status: (orderId: string): Promise<OrderFlowStatus> =>
      routed(
        orderId,
        (flow) => flow.status(orderId),
        (record) => ({ orderId, flow: 'orchestrated', ...record, step: isFinal(record.status) ? 'done' : record.status, notified: null }),
      ),
    command: (orderId: string, command: OrderCommand): Promise<void> =>
      routed(
        orderId,
        (flow) => flow[command](orderId),
        (record) => {
          throw new OrderStateConflictError(orderId, record.status, command, sagaPastRetention);
        },
      ),
  };
}
