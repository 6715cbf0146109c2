{#- Every record the shop API served that could not be loaded (no key, an unparseable
    timestamp, ...) and has not loaded since: the ingestion keeps each, once, in
    `raw.<table>__rejected` with the reason, fetches it again by its key on the next runs,
    and deletes it from there when it loads. dlt creates such a table with its first rejected
    record, so the model reads the ones that exist; `assert_no_rejected_records` warns with
    the count. -#}
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
        {{ dbt.cast('null', dbt.type_string()) }} as rejected_key,
        {{ dbt.cast('null', dbt.type_string()) }} as rejection_status,
        {{ dbt.cast('null', dbt.type_bigint()) }} as refetch_attempts,
        {{ dbt.cast('null', dbt.type_string()) }} as rejection_reason,
        {{ dbt.cast('null', dbt.type_string()) }} as rejected_record,
        {{ dbt.cast('null', dbt.type_timestamp()) }} as reload_since,
        {{ dbt.cast('null', dbt.type_timestamp()) }} as reload_before,
        {{ dbt.cast('null', dbt.type_timestamp()) }} as loaded_at
    where 1 = 0

),

rejected as (

    select * from no_rejections

    {% for table, relation in rejected_tables %}
        union all
        select
            '{{ table }}' as source_table,
            reject_key as rejected_key,
            status as rejection_status,
            attempts as refetch_attempts,
            reason as rejection_reason,
            record as rejected_record,
            {{ utc_timestamp('reload_since') }} as reload_since,
            {{ utc_timestamp('reload_before') }} as reload_before,
            {{ dlt_loaded_at() }} as loaded_at
        from {{ relation }}
    {% endfor %}

),

final as (

    select * from rejected

)

select * from final
