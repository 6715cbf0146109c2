{{
    config(
        materialized=keyed_mart_materialization(),
        unique_key='customer_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ log_write_for_publish(incremental_since()) }}"
    )
}}

-- depends_on: {{ ref('stg_shop__loads') }}
{{ require_current_upstream_marts(['order_items', 'orders']) }}

with

{% if is_incremental() %}

    new_loads as (

        {{ loads_since(ref('stg_shop__loads'), incremental_since()) }}

    ),

    customers_to_rebuild as (

        select customers.customer_id
        from {{ ref('stg_shop__customers') }} as customers
        inner join new_loads on customers.load_id = new_loads.load_id

        union

        select orders.customer_id
        from {{ ref('orders') }} as orders
        where orders.loaded_at > {{ incremental_since() }}

    ),

{% endif %}

customers as (

    select * from {{ ref('stg_shop__customers') }}

    {% if is_incremental() %}
        where customer_id in (
            select customers_to_rebuild.customer_id from customers_to_rebuild
        )
    {% endif %}

),

orders as (

    select * from {{ ref('orders') }}

    {% if is_incremental() %}
        where customer_id in (
            select customers_to_rebuild.customer_id from customers_to_rebuild
        )
    {% endif %}

),

customer_orders_summary as (

    select
        customer_id,
        count(*) as lifetime_order_count,
        sum(case when is_returned then 1 else 0 end) as returned_order_count,
        min(ordered_at) as first_ordered_at,
        max(ordered_at) as last_ordered_at,
        sum(case when is_returned then 0 else subtotal end) as lifetime_spend_pretax,
        sum(case when is_returned then 0 else tax_paid end) as lifetime_tax_paid,
        sum(case when is_returned then 0 else order_total end) as lifetime_spend,
        max(loaded_at) as orders_loaded_at

    from orders

    group by customer_id

),

final as (

    select
        customers.customer_id,
        -- A deleted customer keeps their id, so their orders stay counted, and nothing else.
        case when customers.is_deleted then null else customers.customer_name end
            as customer_name,
        customers.is_deleted,
        customers.deleted_at,
        {{ dbt.cast('coalesce(customer_orders_summary.lifetime_order_count, 0)', dbt.type_int()) }}
            as lifetime_order_count,
        {{ dbt.cast('coalesce(customer_orders_summary.returned_order_count, 0)', dbt.type_int()) }}
            as returned_order_count,
        customer_orders_summary.first_ordered_at,
        customer_orders_summary.last_ordered_at,
        cast(coalesce(customer_orders_summary.lifetime_spend_pretax, 0) as decimal(18, 2))
            as lifetime_spend_pretax,
        cast(coalesce(customer_orders_summary.lifetime_tax_paid, 0) as decimal(18, 2))
            as lifetime_tax_paid,
        cast(coalesce(customer_orders_summary.lifetime_spend, 0) as decimal(18, 2))
            as lifetime_spend,
        case
            when customer_orders_summary.lifetime_order_count > 1 then 'returning'
            when customer_orders_summary.lifetime_order_count = 1 then 'new'
            else 'prospect'
        end as customer_type,
        case
            when customer_orders_summary.orders_loaded_at > customers.loaded_at
                then customer_orders_summary.orders_loaded_at
            else customers.loaded_at
        end as loaded_at

    from customers

    left join customer_orders_summary
        on customers.customer_id = customer_orders_summary.customer_id

)

select * from final
