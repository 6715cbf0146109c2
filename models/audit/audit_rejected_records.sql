{#- Every record the shop API served that could not be loaded (no key, an unparseable
    timestamp, ...): the ingestion keeps each in `raw.<table>__rejected` with the reason
    rather than dropping it. dlt creates such a table with its first rejected record, so
    the model reads the ones that exist; `assert_no_rejected_records` warns with the count. -#}
{%- set shop = source('shop', 'orders') -%}
{%- set rejected_tables = [] -%}
{%- if execute -%}
    {%- for table in ['customers', 'orders', 'order_items', 'products', 'stores', 'tweets'] -%}
        {%- set relation = adapter.get_relation(
            database=shop.database, schema=shop.schema, identifier=table ~ '__rejected'
        ) -%}
        {%- if relation is not none -%}
            {%- do rejected_tables.append((table, relation)) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}

with

-- The columns, typed, for when nothing was ever rejected.
no_rejections as (

    select
        {{ dbt.cast('null', dbt.type_string()) }} as source_table,
        {{ dbt.cast('null', dbt.type_string()) }} as rejection_reason,
        {{ dbt.cast('null', dbt.type_string()) }} as rejected_record,
        {{ dbt.cast('null', dbt.type_timestamp()) }} as loaded_at
    where 1 = 0

),

rejected as (

    select * from no_rejections

    {% for table, relation in rejected_tables %}
        union all
        select
            '{{ table }}' as source_table,
            reason as rejection_reason,
            record as rejected_record,
            {{ dlt_loaded_at() }} as loaded_at
        from {{ relation }}
    {% endfor %}

),

final as (

    select * from rejected

)

select * from final
