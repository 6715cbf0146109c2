with

products as (

    select * from {{ ref('stg_shop__products') }}

),

supplies as (

    select * from {{ ref('stg_catalog__supplies') }}

),

product_supply_costs as (

    select
        product_id,
        sum(supply_cost) as supply_cost,
        count(*) as supply_count

    from supplies

    group by product_id

),

final as (

    select
        products.product_id,
        products.product_name,
        products.product_type,
        products.product_description,
        products.is_food_item,
        products.is_drink_item,
        products.product_price,
        products.updated_at,
        cast(coalesce(product_supply_costs.supply_cost, 0) as decimal(16, 2)) as supply_cost,
        {{ dbt.cast('coalesce(product_supply_costs.supply_count, 0)', dbt.type_int()) }}
            as supply_count

    from products

    left join product_supply_costs
        on products.product_id = product_supply_costs.product_id

)

select * from final
