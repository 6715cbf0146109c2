{#- The rows of `source(source_name, table_name)` that came in loads dlt has finished.

    dlt records a load in `_dlt_loads` (status 0) only once every table of the load package
    is in; rows of a package that crashed midway stay hidden until a later run completes it.
    `narrowed_by`, a condition on the table's rows, is applied before the loads are checked:
    a few rows picked by key are then checked, not the whole table. -#}
{% macro from_completed_loads(source_name, table_name, narrowed_by=none) -%}
    {%- if narrowed_by is none %}
    select * from {{ source(source_name, table_name) }}
    {%- else %}
    select * from (
        select * from {{ source(source_name, table_name) }}
        where {{ narrowed_by }}
    ) as narrowed
    {%- endif %}
    where _dlt_load_id in (
        select load_id from {{ source(source_name, '_dlt_loads') }}
        where status = 0
    )
{%- endmacro %}
