with

source as (

    {{ from_completed_loads('catalog', 'inventory_movements') }}

),

final as (

    select
        ----------  ids
        id as movement_id,
        store_id as location_id,
        sku as product_id,

        ---------- properties
        reason as movement_reason,

        ---------- numerics
        quantity,

        ---------- timestamps
        {{ dbt.cast('moved_at', dbt.type_timestamp()) }} as moved_at,
        {{ dbt.cast('updated_at', dbt.type_timestamp()) }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
