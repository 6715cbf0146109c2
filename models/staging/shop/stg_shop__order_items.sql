with

source as (

    select * from {{ source('shop', 'order_items') }}

),

final as (

    select
        ----------  ids
        id as order_item_id,
        order_id,
        sku as product_id,

        ---------- timestamps
        {{ utc_timestamp('updated_at') }} as added_at

    from source

)

select * from final
