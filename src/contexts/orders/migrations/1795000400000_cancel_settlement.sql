-- Up Migration
-- In the choreographed flow a customer's cancel ends the order only once both the stock release
-- and the payments context's answer (refunded, or nothing charged and nothing will be) are in;
-- they arrive on different topics, in either order, and are remembered here until both are.
alter table orders.orders add column stock_released_at timestamptz;
alter table orders.orders add column release_reason text;
alter table orders.orders add column payment_settled_at timestamptz;

-- Down Migration
alter table orders.orders drop column payment_settled_at;
alter table orders.orders drop column release_reason;
alter table orders.orders drop column stock_released_at;
