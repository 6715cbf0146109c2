-- The orders mart holds exactly the orders the raw layer holds: same count, same revenue.
-- Returns a row (and fails) when either differs.

with

raw_totals as (

    select
        count(*) as order_count,
        sum(order_total) as order_total_cents
    from {{ source('shop', 'orders') }}

),

mart_totals as (

    select
        count(*) as order_count,
        sum(order_total) * 100 as order_total_cents
    from {{ ref('orders') }}

),

final as (

    select
        raw_totals.order_count as raw_order_count,
        mart_totals.order_count as mart_order_count,
        raw_totals.order_total_cents as raw_order_total_cents,
        mart_totals.order_total_cents as mart_order_total_cents
    from raw_totals
    cross join mart_totals
    where
        raw_totals.order_count != mart_totals.order_count
        or raw_totals.order_total_cents != mart_totals.order_total_cents

)

select * from final
