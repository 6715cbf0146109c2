{#- The `unique_key` a microbatch model passes to dbt: dbt-postgres merges each batch on it
    and requires one, dbt-duckdb replaces each batch by its time window and rejects one. -#}
{% macro microbatch_unique_key(columns) -%}
    {{ return(none if target.type == 'duckdb' else columns) }}
{%- endmacro %}
