-- Up Migration
-- Recipients learned from order.placed, and emails waiting for their recipient (the events that
-- ask for an email may arrive before order.placed does).
create table notifications.recipients (
  order_id  text primary key,
  email     text not null
);

create table notifications.pending_messages (
  order_id  text not null,
  template  text not null,
  data      jsonb not null,
  primary key (order_id, template)
);

-- Down Migration
drop table notifications.pending_messages;
drop table notifications.recipients;
