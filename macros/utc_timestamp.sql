{#- A timezone-aware timestamp as a plain timestamp in UTC, whatever the session's time zone. -#}
{% macro utc_timestamp(column_name) -%}
    {{ return(adapter.dispatch('utc_timestamp')(column_name)) }}
{%- endmacro %}

{% macro default__utc_timestamp(column_name) -%}
    ({{ column_name }} at time zone 'UTC')
{%- endmacro %}
