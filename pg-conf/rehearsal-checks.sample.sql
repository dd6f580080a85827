-- Tidemark rehearsal checks (tidemark rehearse --check-sql FILE; docs/rehearsal.md).
-- Blocks start with "-- name:"; "-- database:" defaults to postgres; each "-- expect:" line is
-- one line of the exact output of psql -XAtq (fields separated by |). No expect: the SQL must
-- merely run. The data is as of a random instant: prefer invariants to exact counts.

-- name: no orders without a customer
-- database: shop
select count(*) from orders o left join customers c on c.id = o.customer_id where c.id is null;
-- expect: 0

-- name: ledger balances
-- database: shop
select sum(amount) = 0 from ledger;
-- expect: t

-- name: roles that must exist
select rolname from pg_roles where rolname in ('app', 'readonly') order by 1;
-- expect: app
-- expect: readonly

-- name: the newest order is readable
-- database: shop
select * from orders order by id desc limit 1;
