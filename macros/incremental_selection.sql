{#- Where an incremental build starts reading: after the newest load the model has already
    taken in. Rows reach a model by load (`loaded_at`, from dlt's load id), and one
    pipeline's loads complete in order, so this is exact: a row that lands a run late, a late
    item or a status change is picked up by the next build, whatever its `updated_at`.
    `lookback_hours` (default 0) re-reads loads from that long before as well, for setups
    where loads can complete out of order (several writers to one raw table). A model with no
    rows yet reads every load. `relation` (default: the model built) and `lookback_hours`
    ask the same of another incremental model, or without the look back. -#}
{% macro incremental_since(relation=none, lookback_hours=none) -%}
    {%- set newest = "coalesce(max(loaded_at), " ~ dbt.cast("'1970-01-01'", dbt.type_timestamp()) ~ ")" -%}
    {%- set hours = var('lookback_hours') if lookback_hours is none else lookback_hours -%}
    (
        select {{ dbt.dateadd('hour', '-' ~ hours, newest) }}
        from {{ relation if relation is not none else this }}
    )
{%- endmacro %}


{#- The loads completed after `since`, from a relation of loads (`load_id`, `loaded_at`): the
    rows an incremental build takes are those that came in them. -#}
{% macro loads_since(loads, since) -%}
    select load_id from {{ loads }} where loaded_at > {{ since }}
{%- endmacro %}


{#- The rows of `relation` (with a `load_id`) that came in the loads completed after `since`. -#}
{% macro rows_loaded_since(relation, loads, since) -%}
    select * from {{ relation }}
    where load_id in ({{ loads_since(loads, since) }})
{%- endmacro %}


{#- The orders changed since `since`: those whose own row, or any of whose items, came in a
    load after it (a relation of loads, `load_id` and `loaded_at`, says which loads those
    are). A late item changes its order's totals as much as a status change does. Rows are
    selected by the few new load ids rather than by a `loaded_at` computed for every row:
    DuckDB then skips history (raw rows are appended in load order, and its scans skip blocks
    by their min/max), and no warehouse converts every row's load id to a time. -#}
{% macro changed_order_ids(orders, order_items, loads, since) -%}
    {%- set new_loads = loads_since(loads, since) -%}
    select order_id from {{ orders }}
    where load_id in ({{ new_loads }})

    union

    select order_id from {{ order_items }}
    where load_id in ({{ new_loads }})
{%- endmacro %}


{#- How an incremental build of an order fact (`orders`, `order_items`) rewrites rows: its
    `incremental_strategy`.

    Where rows can be deleted by key, in one transaction: the rows of the changed orders
    (`delete+insert`). The models find them without reading history: the rows loaded since
    by load id, and the rows built before from the facts themselves, by order and day (an
    order never moves to another day, `ordered_at` is fixed when it is placed, and the facts
    are written in day order, so a lookup by day reads a few blocks).

    On Spark's Parquet tables, which rewrite partitions, not rows: every order of the days
    the changed orders were placed on (`insert_overwrite` of those days,
    `orders_of_changed_days` below). -#}
{% macro fact_incremental_strategy() -%}
    {{ return(adapter.dispatch('fact_incremental_strategy')()) }}
{%- endmacro %}

{% macro default__fact_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__fact_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}


{#- The UTC day of a timestamp expression: the facts' partition key. -#}
{% macro order_date(timestamp) -%}
    {{ dbt.cast(dbt.date_trunc('day', timestamp), 'date') }}
{%- endmacro %}


{#- For `insert_overwrite`: every order (of `orders`, with `order_id`, `ordered_at`,
    `loaded_at`) placed on a day on which an order changed, by its row or an item (of
    `order_items`, with `order_id`, `loaded_at`). A partition overwrite is not one
    transaction: a cluster lost during its commit can leave some days rewritten and others
    not, and the newest load in the table would then hide the others' changes. So an order
    counts as changed when its row or an item was loaded after the load the table holds for
    it (or it is not there yet), compared key by key: exact after any interruption, and
    `lookback_hours` is not needed. -#}
{% macro orders_of_changed_days(orders, order_items) -%}
    {%- set day = order_date('ordered_at') -%}
    select order_id from {{ orders }}
    where {{ day }} in (
        select {{ day }}
        from (
            select
                orders.order_id,
                orders.ordered_at,
                greatest(orders.loaded_at, coalesce(items.loaded_at, orders.loaded_at))
                    as loaded_at
            from {{ orders }} as orders
            left join (
                select order_id, max(loaded_at) as loaded_at
                from {{ order_items }}
                group by order_id
            ) as items
                on orders.order_id = items.order_id
        ) as newest_loads
        left join (
            select order_id, max(loaded_at) as loaded_at
            from {{ this }}
            group by order_id
        ) as built
            on newest_loads.order_id = built.order_id
        where built.order_id is null or newest_loads.loaded_at > built.loaded_at
    )
{%- endmacro %}


{#- A mart kept per key (customers, product_mentions): incremental, rewriting the keys that
    changed, where rows can be deleted by key. Spark's Parquet tables rewrite partitions, not
    rows, and these marts have no day to partition by: there they are rebuilt whole. -#}
{% macro keyed_mart_materialization() -%}
    {{ return(adapter.dispatch('keyed_mart_materialization')()) }}
{%- endmacro %}

{% macro default__keyed_mart_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__keyed_mart_materialization() -%}
    {{ return('table') }}
{%- endmacro %}
