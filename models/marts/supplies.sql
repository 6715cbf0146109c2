with

supplies as (

    select * from {{ ref('stg_catalog__supplies') }}

),

final as (

    select
        supply_id,
        product_id,
        supply_name,
        supply_cost,
        is_perishable_supply,
        updated_at

    from supplies

)

select * from final
