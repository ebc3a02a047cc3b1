-- Up Migration
-- Orders accepted before the payment vault kept their token in clear here. Once their charge is
-- settled (captured or declined) nothing needs it again (a refund goes by the charge, not the
-- token): drop it. Tokens of charges not settled yet stay until they are, and new rows hold only
-- vault references.
update payments.payment_requests r set token = null
where r.token is not null and r.token not like 'payref\_%'
  and exists (select 1 from payments.payments p where p.order_id = r.order_id and p.status in ('captured', 'declined'));

-- Down Migration
-- Nothing to undo: the tokens are gone on purpose.
