{#- Where an incremental build starts reading: `lookback_hours` before the newest load the
    model has already taken in. Rows reach a model by load time (`loaded_at`), so a row that
    lands a run late is still picked up; the lookback re-reads a margin on top. -#}
{% macro incremental_since() -%}
    (
        select {{ dbt.dateadd('hour', '-' ~ var('lookback_hours'), 'max(loaded_at)') }}
        from {{ this }}
    )
{%- endmacro %}


{#- The orders to rebuild: those whose own row, or any of whose items, was loaded at or
    after `since`. A late item changes its order's totals as much as a status change does. -#}
{% macro changed_order_ids(orders, order_items, since) -%}
    select order_id from {{ orders }}
    where loaded_at >= {{ since }}

    union

    select order_id from {{ order_items }}
    where loaded_at >= {{ since }}
{%- endmacro %}
