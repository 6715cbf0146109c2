with

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

products as (

    select * from {{ ref('int_products_costed') }}

),

final as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        products.product_name,
        products.product_type,
        products.is_food_item,
        products.is_drink_item,
        order_items.item_price,
        cast(coalesce(products.supply_cost, 0) as decimal(16, 2)) as supply_cost,
        order_items.added_at,
        order_items.load_id,
        order_items.loaded_at

    from order_items

    left join products
        on order_items.product_id = products.product_id

)

select * from final
