{#- PostgreSQL: declarative range partitions plus an index on the cluster keys.

    A partitioned model is built as: its rows into a temporary table, the parent table
    `partition by range (<field>)`, one partition per period found in the rows (and a default
    partition for null keys), the rows inserted in write order, then the cluster index.
    Incremental builds create the partitions for any new periods before dbt's strategy
    writes. Partitions are named `<model>_p<period>` (e.g. orders_p20250131).
-#}
{% macro postgres__create_table_as(temporary, relation, sql) -%}
    {%- set spec = partition_spec() -%}
    {%- if temporary or spec is none -%}
        {{ return(dbt.postgres__create_table_as(temporary, relation, sql)) }}
    {%- endif -%}
    {%- set stage = api.Relation.create(identifier=relation.identifier ~ '__dbt_stage') -%}
    {%- set contract_config = config.get('contract') -%}

    {{ dbt.postgres__create_table_as(true, stage, sql) }}

    {% if relation.identifier != this.identifier -%}
        {{ postgres__retire_partition_names(this) }}
    {%- endif %}

    create table {{ relation }}
    {% if contract_config.enforced -%}
        {{ get_table_columns_and_constraints() }}
    {%- else -%}
        (like {{ stage }} including defaults)
    {%- endif %}
    partition by range ({{ spec.field }});

    {{ postgres__create_range_partitions(relation, stage, spec) }}

    insert into {{ relation }}
    select * from {{ stage }}
    order by {{ write_order_keys() | join(', ') }};

    {% if cluster_keys() -%}
        {{ get_create_index_sql(relation, {'columns': cluster_keys()}) }};
    {%- endif %}

    drop table {{ stage }};
{%- endmacro %}


{#- One partition of `parent` per `granularity` period of `field` in `rows_relation`, named
    after the model, plus the default partition; existing ones are kept. -#}
{% macro postgres__create_range_partitions(parent, rows_relation, spec) -%}
    {%- set formats = {'day': 'YYYYMMDD', 'month': 'YYYYMM', 'year': 'YYYY'} -%}
    {%- set prefix = this.identifier ~ '_p' -%}
    do $partitions$
    declare
        period timestamp;
    begin
        for period in
            select distinct date_trunc('{{ spec.granularity }}', {{ spec.field }})
            from {{ rows_relation }}
            where {{ spec.field }} is not null
        loop
            execute format(
                'create table if not exists %I.%I partition of %s for values from (%L) to (%L)',
                '{{ parent.schema }}',
                '{{ prefix }}' || to_char(period, '{{ formats[spec.granularity] }}'),
                '{{ parent }}',
                period,
                period + interval '1 {{ spec.granularity }}'
            );
        end loop;
        execute format(
            'create table if not exists %I.%I partition of %s default',
            '{{ parent.schema }}',
            '{{ prefix }}default',
            '{{ parent }}'
        );
    end
    $partitions$;
{%- endmacro %}


{#- A full rebuild creates the new table beside the live one and swaps them; the live
    table's partitions step aside (renamed `..._old`) so the new ones can take the names.
    Everything runs in dbt's transaction: a failed build renames nothing. -#}
{% macro postgres__retire_partition_names(live) -%}
    do $retire$
    declare
        child record;
    begin
        for child in
            select partition.relname
            from pg_inherits
            inner join pg_class as partition on pg_inherits.inhrelid = partition.oid
            where pg_inherits.inhparent = to_regclass('{{ live.include(database=false) }}')
        loop
            execute format(
                'alter table %I.%I rename to %I',
                '{{ live.schema }}',
                child.relname,
                child.relname || '_old'
            );
        end loop;
    end
    $retire$;
{%- endmacro %}


{#- Incremental strategies: partitions for the new rows' periods first, then dbt's SQL. -#}
{% macro postgres__partitions_for_new_rows(arg_dict) -%}
    {%- set spec = partition_spec() -%}
    {%- if spec is not none -%}
        {{ postgres__create_range_partitions(
            arg_dict['target_relation'], arg_dict['temp_relation'], spec
        ) }}
    {%- endif -%}
{%- endmacro %}

{% macro postgres__get_incremental_delete_insert_sql(arg_dict) -%}
    {{ postgres__partitions_for_new_rows(arg_dict) }}
    {{ dbt.default__get_incremental_delete_insert_sql(arg_dict) }}
{%- endmacro %}

{% macro postgres__get_incremental_merge_sql(arg_dict) -%}
    {{ postgres__partitions_for_new_rows(arg_dict) }}
    {{ dbt.default__get_incremental_merge_sql(arg_dict) }}
{%- endmacro %}

{% macro postgres__get_incremental_append_sql(arg_dict) -%}
    {{ postgres__partitions_for_new_rows(arg_dict) }}
    {{ dbt.default__get_incremental_append_sql(arg_dict) }}
{%- endmacro %}
