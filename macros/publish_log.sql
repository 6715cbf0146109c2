{#- What the published snapshot needs from the builds (ingestion/publish.py, DuckDB).

    The publish brings its copy of a keyed mart level with the warehouse by comparing every
    row, joined on the key: at 1M orders, a second for the order facts each hour for a few
    thousand changed rows. A model that logs its writes here (`pre_hook` below) lets it
    compare only what changed: each write of the model adds a row to `dbt_publish_log` in the
    transaction of the write itself (a build stopped midway logs nothing it did not commit),
    saying whether the write was incremental and, if so, from when: the `since` the model's
    incremental build selects by (`incremental_since()` for the order facts: every row it
    writes was loaded after it). Since the last publish, a model written only incrementally
    changed only rows loaded after the earliest of those and maybe dropped keys; one with
    any other write (a first build, `--full-refresh`) is compared row by row; one not
    written is unchanged. -#}

{% macro publish_log_table() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema, identifier='dbt_publish_log'
    )) }}
{%- endmacro %}


{#- on-run-start: the log, where a publish reads it (DuckDB's warehouse, not lake mode). -#}
{% macro publish_log_start() -%}
    {%- if execute and _publish_logged() and flags.WHICH in ('run', 'build', 'retry') -%}
        {% call statement('publish_log_start', auto_begin=True) %}
            create table if not exists {{ publish_log_table() }} (
                written bigint,
                table_name {{ dbt.type_string() }},
                incremental boolean,
                since {{ dbt.type_timestamp() }}
            );
            {#- Position 0 names this log: a new warehouse's log is another one. -#}
            insert into {{ publish_log_table() }} (written, table_name)
            select 0, cast(uuid() as {{ dbt.type_string() }})
            where not exists (select 1 from {{ publish_log_table() }} where written = 0)
        {% endcall %}
        {% do adapter.commit() %}
    {%- endif -%}
{%- endmacro %}


{#- pre_hook of a keyed incremental mart whose incremental builds write only rows loaded after
    `since` (SQL); it runs in the write's transaction, before the write, so `is_incremental()`
    and `since` are what the write is about to use. -#}
{% macro log_write_for_publish(since) -%}
    {%- if execute and _publish_logged() and model.config.materialized == 'incremental' -%}
        insert into {{ publish_log_table() }} (written, table_name, incremental, since)
        select
            coalesce(max(written), 0) + 1,
            '{{ this.identifier }}',
            {{ 'true' if is_incremental() else 'false' }},
            {{ since if is_incremental() else dbt.cast('null', dbt.type_timestamp()) }}
        from {{ publish_log_table() }}
    {%- endif -%}
{%- endmacro %}


{% macro _publish_logged() -%}
    {{ return(target.type == 'duckdb' and target.name != 'lake') }}
{%- endmacro %}
