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
{{ require_current_upstream_marts(['order_items']) }}

{%- set rewrites_days = fact_incremental_strategy() == 'insert_overwrite' %}

with

{% if is_incremental() and rewrites_days %}

    orders_to_rebuild as (

        {{ orders_of_changed_days(ref('stg_shop__orders'), ref('order_items')) }}

    ),

{% elif is_incremental() %}

    changed_orders as (

        {{ rows_loaded_since(
            ref('stg_shop__orders'), ref('stg_shop__loads'), incremental_since()
        ) }}

    ),

    -- The orders to rebuild, by id and day: those loaded since, and those whose items
    -- `order_items` rewrote since (a new or changed item, or a changed order).
    orders_to_rebuild as (

        select
            order_id,
            {{ order_date('ordered_at') }} as order_date
        from changed_orders

        union

        select
            order_id,
            order_date
        from {{ ref('order_items') }}
        where loaded_at > {{ incremental_since() }} and order_date is not null

    ),

{% endif %}

orders as (

    {% if is_incremental() and rewrites_days %}

        select * from {{ ref('stg_shop__orders') }}
        where order_id in (select orders_to_rebuild.order_id from orders_to_rebuild)

    {% elif is_incremental() %}

        select
            order_id,
            customer_id,
            location_id,
            order_status,
            order_channel,
            subtotal,
            tax_paid,
            order_total,
            ordered_at,
            updated_at,
            loaded_at
        from changed_orders

        union all

        -- An order that only got an item: its own columns are as built, found by id and day.
        select
            built.order_id,
            built.customer_id,
            built.location_id,
            built.order_status,
            built.order_channel,
            built.subtotal,
            built.tax_paid,
            built.order_total,
            built.ordered_at,
            built.updated_at,
            built.loaded_at
        from {{ this }} as built
        inner join orders_to_rebuild
            on
                built.order_id = orders_to_rebuild.order_id
                and built.order_date = orders_to_rebuild.order_date
        where built.order_id not in (select changed_orders.order_id from changed_orders)

    {% else %}

        select * from {{ ref('stg_shop__orders') }}

    {% endif %}

),

order_items as (

    {% if is_incremental() and rewrites_days %}

        select * from {{ ref('order_items') }}
        where order_id in (select orders_to_rebuild.order_id from orders_to_rebuild)

    {% elif is_incremental() %}

        select order_items.*
        from {{ ref('order_items') }} as order_items
        inner join orders_to_rebuild
            on
                order_items.order_id = orders_to_rebuild.order_id
                and order_items.order_date = orders_to_rebuild.order_date

    {% else %}

        select * from {{ ref('order_items') }}

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
        {{ order_date('orders.ordered_at') }} as order_date,
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
