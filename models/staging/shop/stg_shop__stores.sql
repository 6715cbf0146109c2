with

source as (

    select * from {{ source('shop', 'stores') }}

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
        {{ utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from final
