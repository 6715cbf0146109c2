with

source as (

    {{ from_completed_loads('catalog', 'stores') }}

),

final as (

    select
        ----------  ids
        id as location_id,

        ---------- text
        name as location_name,

        ---------- numerics
        tax_rate,

        ---------- timestamps
        {{ dbt.cast('opened_at', dbt.type_timestamp()) }} as opened_at,
        {{ dbt.cast('updated_at', dbt.type_timestamp()) }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
