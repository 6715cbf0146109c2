{#- Lake mode (`--target lake`): the partitioned facts leave the DuckDB file.

    dbt-duckdb's `external` materialization writes them as Parquet under the target's
    external_root, hive-partitioned on the model's `partition_by` column (one directory per
    day: `orders/order_date=2025-01-31/data_0.parquet`), rows in cluster-key order within each
    file, and puts a view over the files so `ref()` works as before. A query filtered on the
    partition column opens only the matching directories. External models are rebuilt whole
    on every run: the lake trades dbt's incremental merge for files any engine can read.
-#}

{#- The materialization of a partitioned fact: `default` in the warehouse, files in the lake. -#}
{% macro fact_materialization(default='incremental') -%}
    {{ return('external' if target.name == 'lake' else default) }}
{%- endmacro %}


{#- dbt-duckdb's write options, plus hive partitioning from the model's `partition_by`. -#}
{% macro render_write_options(config) -%}
    {%- set options = dbt.render_write_options(config) -%}
    {%- set spec = partition_spec() -%}
    {%- if spec is not none and 'partition_by' not in options -%}
        {%- if spec.granularity != 'day' -%}
            {%- do exceptions.raise_compiler_error(
                "lake mode partitions files by the value of " ~ spec.field ~ ", a day each; "
                ~ "for " ~ spec.granularity ~ " partitions, partition on a column holding the "
                ~ spec.granularity ~ " (" ~ this ~ ")"
            ) -%}
        {%- endif -%}
        {#- overwrite: a rebuild replaces the directory's files rather than adding to them -#}
        {%- do options.update({'partition_by': spec.field, 'overwrite': 'true'}) -%}
    {%- endif -%}
    {{ return(options) }}
{%- endmacro %}


{#- A partitioned model's files live in a directory named for it, not `<model>.parquet`. -#}
{% macro external_location(relation, config) -%}
    {%- if partition_spec() is none -%}
        {{ return(dbt.external_location(relation, config)) }}
    {%- endif -%}
    {{ return(adapter.external_root() ~ '/' ~ relation.identifier) }}
{%- endmacro %}
