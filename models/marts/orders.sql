{{
    config(
        materialized=fact_materialization('incremental'),
        unique_key='order_id',
        incremental_strategy=fact_incremental_strategy(),
        on_schema_change='append_new_columns',
        pre_hook="{{ log_write_for_publish(incremental_since()) }}",
        partition_by={'field': 'order_date', 'granularity': 'day'},
        cluster_by=['location_id'],
        event_time='ordered_at'
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

orders as (

    select * from {{ ref('stg_shop__orders') }}

    {% if is_incremental() %}
        where order_id in (select orders_to_rebuild.order_id from orders_to_rebuild)
    {% endif %}

),

order_items as (

    select * from {{ ref('int_order_items_priced') }}

    {% if is_incremental() %}
        where order_id in (select orders_to_rebuild.order_id from orders_to_rebuild)
    {% endif %}

),

order_items_summary as (

    select
        order_id,
        count(*) as item_count,
        sum(case when is_food_item then 1 else 0 end) as food_item_count,
        sum(case when is_drink_item then 1 else 0 end) as drink_item_count,
        sum(supply_cost) as order_cost,
        max(loaded_at) as items_loaded_at

    from order_items

    group by order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.location_id,
        orders.order_status,
        orders.order_channel,
        orders.order_status = 'completed' as is_completed,
        orders.order_status = 'returned' as is_returned,
        {{ dbt.cast('coalesce(order_items_summary.item_count, 0)', dbt.type_int()) }}
            as item_count,
        {{ dbt.cast('coalesce(order_items_summary.food_item_count, 0)', dbt.type_int()) }}
            as food_item_count,
        {{ dbt.cast('coalesce(order_items_summary.drink_item_count, 0)', dbt.type_int()) }}
            as drink_item_count,
        coalesce(order_items_summary.food_item_count, 0) > 0 as is_food_order,
        coalesce(order_items_summary.drink_item_count, 0) > 0 as is_drink_order,
        orders.subtotal,
        orders.tax_paid,
        orders.order_total,
        cast(coalesce(order_items_summary.order_cost, 0) as decimal(16, 2)) as order_cost,
        cast(
            orders.subtotal - coalesce(order_items_summary.order_cost, 0) as decimal(16, 2)
        ) as gross_margin,
        orders.ordered_at,
        {{ dbt.cast(dbt.date_trunc('day', 'orders.ordered_at'), 'date') }} as order_date,
        orders.updated_at,
        case
            when order_items_summary.items_loaded_at > orders.loaded_at
                then order_items_summary.items_loaded_at
            else orders.loaded_at
        end as loaded_at

    from orders

    left join order_items_summary
        on orders.order_id = order_items_summary.order_id

)

select * from final
