with

source as (

    select * from {{ source('shop', '_dlt_loads') }}
    where status = 0

),

final as (

    select
        ----------  ids
        load_id,

        ---------- timestamps
        {{ dlt_loaded_at('load_id') }} as loaded_at

    from source

)

select * from final
