{#- When dlt loaded the row: its `_dlt_load_id` is the load's Unix time. Models that build
    incrementally select what arrived since their last build by this, which, unlike the
    upstream's `updated_at`, also catches rows that reached the warehouse a run late. -#}
{% macro dlt_loaded_at() -%}
    {{ utc_timestamp('to_timestamp(cast(_dlt_load_id as ' ~ dbt.type_float() ~ '))') }}
{%- endmacro %}
