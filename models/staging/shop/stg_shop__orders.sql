with

source as (

    select * from {{ source('shop', 'orders') }}

),

final as (

    select
        ----------  ids
        id as order_id,
        customer as customer_id,
        store_id as location_id,

        ---------- properties
        status as order_status,

        ---------- numerics
        {{ cents_to_dollars('subtotal') }} as subtotal,
        {{ cents_to_dollars('tax_paid') }} as tax_paid,
        {{ cents_to_dollars('order_total') }} as order_total,

        ---------- timestamps
        {{ utc_timestamp('ordered_at') }} as ordered_at,
        {{ utc_timestamp('updated_at') }} as updated_at

    from source

)

select * from final
