{#- `column_name` if the raw table has it yet, else a typed null of the same name.

    dlt adds a column to a raw table the first time the upstream sends the field (schema
    evolution), so a model that reads a newer field keeps compiling before that first load.
    Views are recreated on every build, so the real column takes over as soon as it lands.
-#}
{% macro column_if_loaded(relation, column_name, data_type) -%}
    {%- set loaded = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.name | lower == column_name -%}
                {%- do loaded.append(column.name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if loaded -%}
        {{ column_name }}
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}
