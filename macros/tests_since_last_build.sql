{#- Tests of a `dbt build` in proportion to what changed.

    A test configured with `where: changed_since_tested` checks, in a `dbt build`, only the
    rows whose shop loads arrived after those the last passing whole build had in: a `unique`
    test every row with a key among theirs (a new row that repeats an old key fails), any
    other test those rows (for `relationships`, the children; their parents are looked up in
    the whole parent table). Without it, each hourly build at 10M orders would scan every
    key of history in every test. Only a whole build (no --select, --exclude or --selector)
    is scoped, as only a whole build moves the mark; a build of a selection, as Dagster runs
    them, tests all the rows of what it selects.

    What counts as tested: `on-run-start` notes the newest shop load completed when the build
    starts (`tests_since_last_build_start`); `on-run-end` keeps it as `loaded_through` only when
    the build was whole (no selection) and every node succeeded or passed, warnings included
    as not passed (`tests_since_last_build_end`). A failing test keeps failing on the next
    build, since its rows are after the mark. A `--full-refresh` build tests everything,
    `dbt test` always does, and so does a build on a warehouse without the mark (a new file),
    or on Spark, which keeps none. -#}

{% macro tests_since_last_build_table() -%}
    {{ return(api.Relation.create(
        database=target.database, schema=target.schema, identifier='dbt_tests_since_last_build'
    )) }}
{%- endmacro %}


{% macro tests_since_last_build_start() -%}
    {{ return(adapter.dispatch('tests_since_last_build_start')()) }}
{%- endmacro %}

{% macro default__tests_since_last_build_start() -%}
    {%- if execute and whole_build() -%}
        {%- set mark = tests_since_last_build_table() -%}
        {#- (dbt has created the target's schema before the hooks run) -#}
        {% call statement('tests_since_last_build_start', auto_begin=True) %}
            create table if not exists {{ mark }} (
                loaded_through {{ dbt.type_timestamp() }},
                build_started_with {{ dbt.type_timestamp() }}
            );
            delete from {{ mark }} where loaded_through is null;
            insert into {{ mark }} (loaded_through, build_started_with)
            select
                null,
                max({{ dlt_loaded_at('load_id') }})
            from {{ source('shop', '_dlt_loads') }}
            where status = 0
        {% endcall %}
        {#- Hooks run in the transaction earlier hooks' queries opened, rolled back after. -#}
        {% do adapter.commit() %}
    {%- endif -%}
{%- endmacro %}

{% macro spark__tests_since_last_build_start() -%}
{%- endmacro %}


{% macro tests_since_last_build_end(results) -%}
    {{ return(adapter.dispatch('tests_since_last_build_end')(results)) }}
{%- endmacro %}

{% macro default__tests_since_last_build_end(results) -%}
    {%- set passed = results | rejectattr('status', 'in', ['success', 'pass']) | list | length == 0 -%}
    {%- if execute and whole_build() and passed and results | length -%}
        {%- set mark = tests_since_last_build_table() -%}
        {% call statement('tests_since_last_build_end', auto_begin=True) %}
            delete from {{ mark }} where loaded_through is not null;
            update {{ mark }} set loaded_through = build_started_with
            where loaded_through is null
        {% endcall %}
        {% do adapter.commit() %}
    {%- endif -%}
{%- endmacro %}

{% macro spark__tests_since_last_build_end(results) -%}
{%- endmacro %}


{#- The rows checked by a test with `where: changed_since_tested` (any other `where` as dbt
    does it). Compiling it reads the mark (one query), and the column that dates a row comes
    from the tested node's documented columns (the warehouse's are read only where none is
    documented). -#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where == 'changed_since_tested' -%}
        {%- set since = tested_loaded_through() -%}
        {%- if since is none -%}
            {{ return(relation) }}
        {%- endif -%}
        {%- set columns = _dating_columns(relation) -%}
        {#- By load id where the rows carry one (raw and staging: DuckDB skips old blocks),
            else by `loaded_at` (the marts). -#}
        {%- set load_id = (['load_id', '_dlt_load_id'] | select('in', columns) | list)[:1] -%}
        {%- if load_id -%}
            {%- set changed -%}
                {{ load_id[0] }} in (
                    select load_id from {{ source('shop', '_dlt_loads') }}
                    where status = 0 and {{ dlt_loaded_at('load_id') }} > {{ since }}
                )
            {%- endset -%}
        {%- else -%}
            {%- set changed = 'loaded_at > ' ~ since -%}
        {%- endif -%}
        {%- set test = model.test_metadata -%}
        {%- if test and test.name == 'unique' -%}
            {%- set key = test.kwargs.column_name -%}
            {%- set filtered -%}
                (select * from {{ relation }} where {{ key }} in (
                    select {{ key }} from {{ relation }} where {{ changed }}
                )) dbt_subquery
            {%- endset -%}
        {%- else -%}
            {%- set filtered -%}
                (select * from {{ relation }} where {{ changed }}) dbt_subquery
            {%- endset -%}
        {%- endif -%}
        {{ return(filtered) }}
    {%- elif where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}


{#- The lowercase names of the columns that can date the rows of `relation` (`load_id`,
    `_dlt_load_id`, `loaded_at`), as the test's node documents them: the model it is
    attached to, or the source it tests. Where the node documents none of them, the
    warehouse's columns (a query). -#}
{% macro _dating_columns(relation) -%}
    {%- set dating = ['load_id', '_dlt_load_id', 'loaded_at'] -%}
    {%- if model.attached_node -%}
        {%- set tested = graph.nodes.get(model.attached_node) -%}
    {%- elif model.sources | length == 1 -%}
        {%- set tested = graph.sources.get(
            'source.' ~ project_name ~ '.' ~ model.sources[0] | join('.')) -%}
    {%- else -%}
        {%- set tested = none -%}
    {%- endif -%}
    {%- if tested and (tested.alias or tested.identifier) | lower == relation.identifier | lower -%}
        {%- set documented = tested.columns.keys() | map('lower') | select('in', dating) | list -%}
        {%- if documented -%}
            {{ return(documented) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name')
        | map('lower') | select('in', dating) | list) }}
{%- endmacro %}


{#- A `dbt build` of the whole project (no --select, --exclude or --selector). -#}
{% macro whole_build() -%}
    {%- set args = invocation_args_dict -%}
    {{ return(flags.WHICH == 'build'
        and not (args.get('select') or args.get('exclude') or args.get('selector'))) }}
{%- endmacro %}


{#- The mark, as a timestamp literal: none when this invocation tests everything (no whole
    build, a full refresh, Spark, no mark table yet, or no build has passed yet). One query
    per scoped test, when it compiles: a literal lets DuckDB skip the marts' row groups
    loaded before it; a scalar subquery in its place did not, and at 10M orders the unique
    tests on `orders` and `order_items` took 1.3 s and 1.8 s instead of 0.4 s and 0.3 s. -#}
{% macro tested_loaded_through() -%}
    {%- if not execute or not whole_build() or flags.FULL_REFRESH
        or target.type == 'spark' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set mark = tests_since_last_build_table() -%}
    {%- if load_relation(mark) is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = run_query('select max(loaded_through) from ' ~ mark) -%}
    {%- set value = found.columns[0].values()[0] -%}
    {%- if value is none -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(dbt.cast(dbt.string_literal(value), dbt.type_timestamp())) }}
{%- endmacro %}
