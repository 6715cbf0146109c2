-- An order's subtotal is what its items were charged: the orders and order_items endpoints
-- agree, late items included. Returns the orders where they do not.

with

orders as (

    select * from {{ ref('orders') }}

),

order_items as (

    select * from {{ ref('order_items') }}

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
