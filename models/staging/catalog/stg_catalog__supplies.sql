with

source as (

    {{ from_completed_loads('catalog', 'supplies') }}

),

final as (

    select
        ----------  ids
        id as supply_id,
        sku as product_id,

        ---------- text
        name as supply_name,

        ---------- numerics
        {{ cents_to_dollars('cost') }} as supply_cost,

        ---------- booleans
        perishable as is_perishable_supply,

        ---------- timestamps
        {{ dbt.cast('updated_at', dbt.type_timestamp()) }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
