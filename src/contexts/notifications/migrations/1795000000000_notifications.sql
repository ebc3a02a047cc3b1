-- Up Migration
-- One message per order and template: sending twice sends once (unless a crash falls between
-- the SMTP hand-over and this insert; the Message-ID is stable so the receiver can drop it).
create table notifications.sent_messages (
  order_id    text not null,
  template    text not null,
  recipient   text not null,
  message_id  text not null,
  sent_at     timestamptz not null default now(),
  primary key (order_id, template)
);

-- Down Migration
drop table notifications.sent_messages;
