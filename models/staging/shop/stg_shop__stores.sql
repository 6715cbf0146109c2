with

source as (

    {{ from_completed_loads('shop', 'stores') }}

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
        {{ utc_timestamp('opened_at') }} as opened_at,
        {{ utc_timestamp('updated_at') }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
