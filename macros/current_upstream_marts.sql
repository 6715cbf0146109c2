{#- A mart that takes in the changes of an incremental mart upstream (`orders` those of
    `order_items`, `customers` those of `orders`) sees only what that mart holds. Built over
    one that has not yet taken in the latest loads (`dbt build --select orders` after an
    ingest), it would move its own mark (`incremental_since`) past changes it never saw, and
    no later build would take them in: a late item would be missing from its order's total
    for good. So before such a mart is built (incremental or whole: either sets its mark),
    each upstream mart in `names` that this run does not build is asked for changes it has
    not taken in, and if it has any the build stops, naming it. A whole `dbt build` selects
    every upstream mart: then nothing is asked. -#}
{% macro require_current_upstream_marts(names) -%}
    {%- if not execute or flags.WHICH not in ('run', 'build', 'retry')
        or model.resource_type != 'model' or model.config.materialized != 'incremental' -%}
        {{ return('') }}
    {%- endif -%}
    {%- for name in names -%}
        {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] -%}
        {%- if node.unique_id not in selected_resources
            and adapter.get_relation(node.database, node.schema, node.alias) is not none -%}
            {%- set found = run_query(
                'select count(*) from (' ~ changes_not_taken_in(name) ~ ') as not_taken_in'
            ).columns[0].values()[0] -%}
            {%- if found > 0 -%}
                {{ exceptions.raise_compiler_error(
                    this.identifier ~ ": the mart " ~ name ~ " it reads has not taken in "
                    ~ "changes of loads completed since it was built (" ~ found ~ " rows), "
                    ~ "and this run does not build it; building " ~ this.identifier
                    ~ " now would skip them for good. Build them together: "
                    ~ "dbt build --select +" ~ this.identifier
                ) }}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
{%- endmacro %}


{#- The rows an incremental build of the mart `name` would take in now (its own selection,
    without `lookback_hours`): none when it is level with its inputs. The relations are
    found in dbt's graph, not by `ref`: the marts that ask read them through their upstream
    marts already, and their unit tests give only what they read themselves. -#}
{% macro changes_not_taken_in(name) -%}
    {%- set loads = _model_relation('stg_shop__loads') -%}
    {%- set since = incremental_since(_model_relation(name), lookback_hours=0) -%}
    {%- if name == 'order_items' -%}
        {{ changed_order_ids(
            _model_relation('stg_shop__orders'), _model_relation('int_order_items_priced'),
            loads, since
        ) }}
    {%- elif name in ('orders', 'customers') -%}
        {#- Its own rows loaded since, and the rows its upstream mart rewrote since. -#}
        {%- set staging, upstream, key = {
            'orders': ('stg_shop__orders', 'order_items', 'order_id'),
            'customers': ('stg_shop__customers', 'orders', 'customer_id'),
        }[name] -%}
        select {{ key }} from {{ _model_relation(staging) }}
        where load_id in ({{ loads_since(loads, since) }})
        union all
        select {{ key }} from {{ _model_relation(upstream) }}
        where loaded_at > {{ since }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("changes_not_taken_in: no rule for the mart " ~ name) }}
    {%- endif -%}
{%- endmacro %}


{% macro _model_relation(name) -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ name] -%}
    {{ return(api.Relation.create(
        database=node.database, schema=node.schema, identifier=node.alias
    )) }}
{%- endmacro %}
