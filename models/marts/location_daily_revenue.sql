{#- Built in monthly batches on the orders' `ordered_at`: an incremental build redoes the
    current and the previous month (`lookback=1`), which covers how long an order keeps
    changing (completion, late items, returns: about a week) plus ingestion running late. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy='microbatch',
        event_time='revenue_date',
        batch_size='month',
        lookback=1,
        on_schema_change='append_new_columns',
        begin=var('revenue_begin'),
        partition_by={'field': 'revenue_date', 'granularity': 'day'},
        cluster_by=['location_id'],
        unique_key=microbatch_unique_key(['location_id', 'revenue_date'])
    )
}}

with

orders as (

    select * from {{ ref('orders') }}

),

final as (

    select
        location_id,
        order_date as revenue_date,
        {{ dbt.cast('count(*)', dbt.type_int()) }} as order_count,
        {{ dbt.cast('sum(case when is_returned then 1 else 0 end)', dbt.type_int()) }}
            as returned_order_count,
        {{ dbt.cast('sum(case when is_returned then 0 else item_count end)', dbt.type_int()) }}
            as item_count,
        cast(sum(case when is_returned then 0 else subtotal end) as decimal(18, 2))
            as revenue_pretax,
        cast(sum(case when is_returned then 0 else tax_paid end) as decimal(18, 2))
            as tax_paid,
        cast(sum(case when is_returned then 0 else order_total end) as decimal(18, 2))
            as revenue,
        cast(sum(case when is_returned then 0 else order_cost end) as decimal(18, 2))
            as order_cost,
        cast(sum(case when is_returned then 0 else gross_margin end) as decimal(18, 2))
            as gross_margin,
        max(loaded_at) as loaded_at

    from orders

    group by location_id, order_date

)

select * from final
