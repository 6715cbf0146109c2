{#- Spark (Parquet tables in the metastore): `partition_by` becomes `partitioned by`, one
    folder per day, and a filter on the day reads that day's folder only; each day's rows are
    written by one task (`distribute by` the day: one file per day, not one per task and day)
    sorted by the cluster keys, so Parquet's per-row-group min/max statistics skip the rest
    of a file for a filter on them. An incremental build rewrites whole days
    (`insert_overwrite`, see `fact_incremental_strategy`).

    Partition folders hold one value each: day granularity only, on a date column. -#}
{% macro spark__partition_cols(label, required=false) -%}
    {%- set spec = partition_spec() -%}
    {%- if spec is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- if spec.granularity != 'day' -%}
        {%- do exceptions.raise_compiler_error(
            "Spark partitions a table by the value of a column, a day each; for "
            ~ spec.granularity ~ " partitions, partition on a column holding the "
            ~ spec.granularity ~ " (" ~ this ~ ")"
        ) -%}
    {%- endif -%}
    {{ label }} ({{ spec.field }})
{%- endmacro %}


{% macro spark__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- set spec = partition_spec() -%}
    {%- if spec is not none and language == 'sql' -%}
        {%- set compiled_code -%}
select * from (
{{ compiled_code }}
) as unordered
distribute by {{ spec.field }}
sort by {{ write_order_keys() | join(', ') }}
        {%- endset -%}
    {%- endif -%}
    {{ return(dbt.spark__create_table_as(temporary, relation, compiled_code, language)) }}
{%- endmacro %}
