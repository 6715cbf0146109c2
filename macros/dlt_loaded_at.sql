{#- When dlt loaded the row: its `_dlt_load_id` is the load's Unix time. Models that build
    incrementally select what arrived since their last build by this, which, unlike the
    upstream's `updated_at`, also catches rows that reached the warehouse a run late.
    `load_id` names the column (`_dlt_loads` calls it `load_id`). Double precision on
    purpose: dbt.type_float() is 4 bytes on DuckDB, which rounds a Unix time to minutes and
    merges consecutive loads. -#}
{% macro dlt_loaded_at(load_id='_dlt_load_id') -%}
    {{ return(adapter.dispatch('dlt_loaded_at')(load_id)) }}
{%- endmacro %}

{% macro default__dlt_loaded_at(load_id) -%}
    {{ utc_timestamp('to_timestamp(cast(' ~ load_id ~ ' as double precision))') }}
{%- endmacro %}

{% macro spark__dlt_loaded_at(load_id) -%}
    timestamp_seconds(cast({{ load_id }} as double))
{%- endmacro %}
