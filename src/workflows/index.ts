// The workflows a worker registers (its `workflowsPath`); nothing else belongs here.
export { placeOrder } from './place-order.ts';
