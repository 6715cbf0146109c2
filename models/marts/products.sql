with

products as (

    select * from {{ ref('int_products_costed') }}

),

final as (

    select
        product_id,
        product_name,
        product_type,
        product_description,
        is_food_item,
        is_drink_item,
        product_price,
        supply_cost,
        cast(product_price - supply_cost as decimal(16, 2)) as unit_margin,
        supply_count,
        updated_at

    from products

)

select * from final
