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

-- Their items, found by order and day (the mart is written in day order), not by reading
-- every item; an item whose order had not landed when it was built has no day.
order_items as (

    {% if since is not none %}
        select order_items.*
        from {{ ref('order_items') }} as order_items
        inner join orders
            on
                order_items.order_id = orders.order_id
                and order_items.order_date = orders.order_date

        union all

        select order_items.*
        from {{ ref('order_items') }} as order_items
        inner join orders
            on order_items.order_id = orders.order_id
        where order_items.order_date is null
    {% else %}
        select * from {{ ref('order_items') }}
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
