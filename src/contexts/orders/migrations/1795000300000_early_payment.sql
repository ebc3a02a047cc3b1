-- Up Migration
-- In the choreographed flow, payment.completed and inventory.reserved travel on different topics,
-- so the orders group may see the payment first. It remembers it here and confirms the order
-- once the reservation arrives.
alter table orders.orders add column payment_completed_at timestamptz;

-- Down Migration
alter table orders.orders drop column payment_completed_at;
