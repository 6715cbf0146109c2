with

source as (

    {{ from_completed_loads('shop', 'products') }}

),

final as (

    select
        ----------  ids
        sku as product_id,

        ---------- text
        name as product_name,
        type as product_type,
        description as product_description,

        ---------- numerics
        {{ cents_to_dollars('price') }} as product_price,

        ---------- booleans
        type = 'jaffle' as is_food_item,
        type = 'beverage' as is_drink_item,

        ---------- timestamps
        {{ utc_timestamp('updated_at') }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
