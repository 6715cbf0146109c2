-- An order's subtotal is what its items were charged: the orders and order_items endpoints
-- agree, late items included. Returns the orders where they do not. A whole `dbt build`
-- checks the orders whose row or items were loaded since its last passing build, by either
-- mart's `loaded_at` (macros/tests_since_last_build.sql); otherwise every order.

{%- set since = tested_loaded_through() %}

with

orders as (

    select * from {{ ref('orders') }}
    {% if since is not none %}
        where order_id in (
            select changed_orders.order_id from {{ ref('orders') }} as changed_orders
            where changed_orders.loaded_at > {{ since }}
            union
            select changed_items.order_id from {{ ref('order_items') }} as changed_items
            where changed_items.loaded_at > {{ since }}
        )
    {% endif %}

),

order_items as (

    select * from {{ ref('order_items') }}
    {% if since is not none %}
        where order_id in (select orders.order_id from orders)
    {% endif %}

),

item_totals as (

    select
        order_id,
        sum(item_price) as items_subtotal
    from order_items
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.subtotal,
        item_totals.items_subtotal
    from orders
    left join item_totals
        on orders.order_id = item_totals.order_id
    where orders.subtotal != coalesce(item_totals.items_subtotal, 0)

)

select * from final
