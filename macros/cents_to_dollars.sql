{#- Exact dollars from integer cents: cast after dividing so no engine keeps a float. -#}
{% macro cents_to_dollars(column_name) -%}
    {{ return(adapter.dispatch('cents_to_dollars')(column_name)) }}
{%- endmacro %}

{% macro default__cents_to_dollars(column_name) -%}
    cast({{ column_name }} / 100.0 as decimal(16, 2))
{%- endmacro %}
