with

locations as (

    select * from {{ ref('stg_shop__stores') }}

),

final as (

    select
        location_id,
        location_name,
        tax_rate,
        opened_at,
        updated_at

    from locations

)

select * from final
