{#- The project names types as standard SQL does (the marts' contracts, `dbt.cast` calls);
    Spark spells two of them its own way: `varchar` needs a length there (`string` is
    Spark's unbounded text) and `double precision` is `double`. -#}
{% macro spark__cast(field, type) -%}
    {%- set spark_names = {'varchar': 'string', 'text': 'string', 'double precision': 'double'} -%}
    {%- set name = type | trim | lower -%}
    cast({{ field }} as {{ spark_names.get(name, type) }})
{%- endmacro %}
