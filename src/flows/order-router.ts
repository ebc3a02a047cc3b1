import type { Flow, OrderRequest } from '../domain/order.ts';
import type { OrderCommand, OrderFlow, OrderFlowStatus, OrderFlows } from './order-flows.ts';

/** What {@link createOrderRouter} routes between; the entry points build it. */
export interface OrderRouterDeps {
  /** One implementation of each flow. */
  flows: Readonly<Record<Flow, OrderFlow>>;
  /** The flow that runs an order, undefined when no order has this id (src/contexts/orders: `flowOf`). */
  flowOf: (orderId: string) => Promise<Flow | undefined>;
}

/**
 * Routes each call to the flow that runs the order: the orders context records the flow with the
 * order. An order it does not know goes to the orchestrated flow: the saga writes its order row
 * in its first step, so a saga just started may not have one yet, and the saga answers
 * OrderNotFoundError for an id it does not have either.
 */
export function createOrderRouter(deps: OrderRouterDeps): OrderFlows {
  const route = async (orderId: string): Promise<OrderFlow> => deps.flows[(await deps.flowOf(orderId)) ?? 'orchestrated'];
  return {
    flow: (name: Flow) => deps.flows[name],
    place: (flow: Flow, order: OrderRequest, correlationId: string) => deps.flows[flow].place(order, correlationId),
    status: async (orderId: string): Promise<OrderFlowStatus> => (await route(orderId)).status(orderId),
    command: async (orderId: string, command: OrderCommand): Promise<void> => (await route(orderId))[command](orderId),
  };
}
