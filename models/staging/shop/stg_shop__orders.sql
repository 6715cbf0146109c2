with

source as (

    {{ from_completed_loads('shop', 'orders') }}

),

final as (

    select
        ----------  ids
        id as order_id,
        customer as customer_id,
        store_id as location_id,
        _dlt_load_id as load_id,

        ---------- properties
        status as order_status,
        -- Sent by the API from a schema change on; null for orders from before it.
        {{ column_if_loaded(source('shop', 'orders'), 'channel', dbt.type_string()) }}
            as order_channel,

        ---------- numerics
        {{ cents_to_dollars('subtotal') }} as subtotal,
        {{ cents_to_dollars('tax_paid') }} as tax_paid,
        {{ cents_to_dollars('order_total') }} as order_total,

        ---------- timestamps
        {{ utc_timestamp('ordered_at') }} as ordered_at,
        {{ utc_timestamp('updated_at') }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
