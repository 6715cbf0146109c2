{{
    config(
        materialized=fact_materialization('incremental'),
        unique_key='order_item_id',
        incremental_strategy=fact_incremental_strategy(),
        on_schema_change='append_new_columns',
        pre_hook="{{ log_write_for_publish(incremental_since()) }}",
        partition_by={'field': 'order_date', 'granularity': 'day'},
        cluster_by=['product_id']
    )
}}

-- depends_on: {{ ref('stg_shop__loads') }}

with

{% if is_incremental() %}

    orders_to_rebuild as (

        {{ orders_to_rebuild(
            ref('stg_shop__orders'),
            ref('int_order_items_priced'),
            ref('stg_shop__loads'),
            incremental_since()
        ) }}

    ),

{% endif %}

order_items as (

    select * from {{ ref('int_order_items_priced') }}

    {% if is_incremental() %}
        where order_id in (select orders_to_rebuild.order_id from orders_to_rebuild)
    {% endif %}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

    {% if is_incremental() %}
        where order_id in (select orders_to_rebuild.order_id from orders_to_rebuild)
    {% endif %}

),

final as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        orders.customer_id,
        orders.location_id,
        order_items.product_name,
        order_items.product_type,
        order_items.is_food_item,
        order_items.is_drink_item,
        order_items.item_price,
        order_items.supply_cost,
        cast(order_items.item_price - order_items.supply_cost as decimal(16, 2)) as gross_margin,
        orders.ordered_at,
        {{ dbt.cast(dbt.date_trunc('day', 'orders.ordered_at'), 'date') }} as order_date,
        order_items.added_at,
        case
            when orders.loaded_at > order_items.loaded_at then orders.loaded_at
            else order_items.loaded_at
        end as loaded_at

    from order_items

    left join orders
        on order_items.order_id = orders.order_id

)

select * from final
