{#- A model declares its layout once, the same way on every target:

        partition_by={'field': 'order_date', 'granularity': 'day'},   -- day, month or year
        cluster_by=['location_id']

    dbt-postgres and dbt-duckdb ignore both; the macros in this folder make them real:
    PostgreSQL gets native range partitions (one per period, created as periods arrive) and
    an index on the cluster keys; DuckDB gets rows written in partition-then-cluster-key
    order, so the min/max zone maps of its row groups let a filtered scan skip most of them.
-#}

{% macro partition_spec() -%}
    {%- set raw = config.get('partition_by') -%}
    {%- if raw is none or raw == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if raw is string -%}
        {%- set raw = {'field': raw} -%}
    {%- endif -%}
    {%- if raw is not mapping or 'field' not in raw -%}
        {%- do exceptions.raise_compiler_error(
            "partition_by must be a column name or {'field': ..., 'granularity': ...}, got "
            ~ raw
        ) -%}
    {%- endif -%}
    {%- set granularity = raw.get('granularity', 'day') | lower -%}
    {%- if granularity not in ['day', 'month', 'year'] -%}
        {%- do exceptions.raise_compiler_error(
            "partition_by granularity must be day, month or year, got " ~ granularity
        ) -%}
    {%- endif -%}
    {{ return({'field': raw['field'], 'granularity': granularity}) }}
{%- endmacro %}


{% macro cluster_keys() -%}
    {%- set keys = config.get('cluster_by') or [] -%}
    {{ return([keys] if keys is string else keys) }}
{%- endmacro %}


{#- The order rows are written in: partition column first, then the cluster keys. -#}
{% macro write_order_keys() -%}
    {%- set spec = partition_spec() -%}
    {%- set keys = [] if spec is none else [spec.field] -%}
    {%- for key in cluster_keys() if key not in keys -%}
        {%- do keys.append(key) -%}
    {%- endfor -%}
    {{ return(keys) }}
{%- endmacro %}
