{{
    config(
        materialized='incremental',
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns'
    )
}}

with

orders as (

    select * from {{ ref('stg_shop__orders') }}

    {% if is_incremental() %}
        where updated_at >= (
            select {{ dbt.dateadd('hour', '-' ~ var('lookback_hours'), 'max(updated_at)') }}
            from {{ this }}
        )
    {% endif %}

),

final as (

    select
        order_id,
        customer_id,
        location_id,
        order_status,
        order_status = 'completed' as is_completed,
        order_status = 'returned' as is_returned,
        subtotal,
        tax_paid,
        order_total,
        ordered_at,
        {{ dbt.cast(dbt.date_trunc('day', 'ordered_at'), api.Column.translate_type('date')) }}
            as order_date,
        updated_at

    from orders

)

select * from final
