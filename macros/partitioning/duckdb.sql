{#- DuckDB: write partitioned and clustered models in key order.

    DuckDB keeps min/max statistics per row group (122,880 rows); rows sorted on the
    partition column put each day in a few row groups, and a query for one day skips the
    rest. Temporary tables are sorted too, so incremental inserts arrive in order.
-#}
{% macro duckdb__create_table_as(
    temporary, relation, compiled_code, language='sql', partitioned_by=none, sorted_by=none
) -%}
    {%- set keys = write_order_keys() -%}
    {%- if keys and language == 'sql' -%}
        {%- set compiled_code -%}
select * from (
{{ compiled_code }}
) as unordered
order by {{ keys | join(', ') }}
        {%- endset -%}
    {%- endif -%}
    {{ return(dbt.duckdb__create_table_as(
        temporary, relation, compiled_code, language, partitioned_by, sorted_by
    )) }}
{%- endmacro %}


{#- dbt-duckdb reads `partition_by` for DuckLake tables only (and warns on any other);
    on a DuckDB file this project's write order above is what partitions. -#}
{% macro duckdb__get_partitioned_by(relation, temporary) -%}
    {%- set spec = partition_spec() -%}
    {%- if temporary or spec is none or not adapter.is_ducklake(relation) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(spec.field) }}
{%- endmacro %}
