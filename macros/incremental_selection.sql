{#- Where an incremental build starts reading: after the newest load the model has already
    taken in. Rows reach a model by load (`loaded_at`, from dlt's load id), and one
    pipeline's loads complete in order, so this is exact: a row that lands a run late, a late
    item or a status change is picked up by the next build, whatever its `updated_at`.
    `lookback_hours` (default 0) re-reads loads from that long before as well, for setups
    where loads can complete out of order (several writers to one raw table). -#}
{% macro incremental_since() -%}
    (
        select {{ dbt.dateadd('hour', '-' ~ var('lookback_hours'), 'max(loaded_at)') }}
        from {{ this }}
    )
{%- endmacro %}


{#- The orders to rebuild: those whose own row, or any of whose items, was loaded after
    `since`. A late item changes its order's totals as much as a status change does. -#}
{% macro changed_order_ids(orders, order_items, since) -%}
    select order_id from {{ orders }}
    where loaded_at > {{ since }}

    union

    select order_id from {{ order_items }}
    where loaded_at > {{ since }}
{%- endmacro %}
