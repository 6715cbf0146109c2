with

source as (

    {{ from_completed_loads('shop', 'order_items') }}

),

final as (

    select
        ----------  ids
        id as order_item_id,
        order_id,
        sku as product_id,
        _dlt_load_id as load_id,

        ---------- numerics
        {{ cents_to_dollars('price') }} as item_price,

        ---------- timestamps
        {{ utc_timestamp('updated_at') }} as added_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
