with

source as (

    {{ from_completed_loads('catalog', 'products') }}

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

        ---------- timestamps
        {{ dbt.cast('updated_at', dbt.type_timestamp()) }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
