{#- Spark reads the raw zone (dlt's filesystem destination under LAKE_BUCKET_URL) through
    external tables: the Spectrum pattern. Run before each build (`on-run-start`, Spark
    only), this declares one table per table of each source's dataset, over its files:

    - the columns and types are the ones dlt's own schema gives, read from the newest schema
      version dlt stored beside the data (`<dataset>/_dlt_version`), so a column the upstream
      added since the last build is there, and a table with no files yet still reads as empty
      (a dataset never loaded has no tables, and only the models that read it fail);
    - Parquet tables are partitioned by `load_date` (the folders dlt writes per load day) and
      their partitions are recovered from the folders, so a filter on the load day reads that
      day's files only;
    - dlt's load records (`_dlt_loads`, JSON lines) are a table too: the views below and
      `from_completed_loads` read only the loads dlt finished.

    The raw zone only appends (files cannot merge): `<table>__versions` holds every version
    of every row, and the view `<table>`, which the models read as a source, keeps what a
    merge would have kept: per primary key, the version of the latest load (the newest
    `updated_at` within it), without the keys whose latest version is a hard delete.

    Declaring ~50 statements through the Thrift server takes seconds, so the tables are
    declared again (dropped first: an external table's drop leaves its files) only when what
    they are declared from changed: the bucket, this macro's layout or dlt's schema (its
    version hash). A fingerprint of those is kept as a property of the dataset's database;
    while it matches, a build only finds the new load days' folders (`msck repair`, which
    also refreshes the table's cached file listing) and refreshes the load records. -#}
{% macro spark_raw_zone_tables() %}
    {% if not execute or target.type != 'spark' %}
        {{ return('') }}
    {% endif %}
    {% set bucket = env_var('LAKE_BUCKET_URL', '') %}
    {% if not bucket or ('://' not in bucket and not bucket.startswith('/')) %}
        {% do exceptions.raise_compiler_error(
            'spark: LAKE_BUCKET_URL must be an absolute path or a URL the cluster can read '
            ~ '(got "' ~ bucket ~ '"); `make` sets it to the repository\'s warehouse/raw-zone'
        ) %}
    {% endif %}
    {% set datasets = {} %}
    {% for node in graph.sources.values() %}
        {% do datasets.setdefault(node.schema, []).append(node.name) %}
    {% endfor %}
    {% for dataset in datasets %}
        {% set root = bucket.rstrip('/') ~ '/' ~ dataset %}
        {% do run_query('create database if not exists ' ~ dataset) %}
        {% set declared = _raw_zone_declared(dataset) %}
        {% set located = local_md5('location ' ~ root ~ ' layout ' ~ _raw_zone_layout()) %}
        {% for name, columns in {
            '_dlt_loads': 'load_id string, schema_name string, status bigint, '
                ~ 'inserted_at timestamp, schema_version_hash string',
            '_dlt_version': 'version bigint, engine_version bigint, inserted_at timestamp, '
                ~ 'schema_name string, version_hash string, schema string'
        }.items() %}
            {% if located in declared %}
                {% do run_query('refresh table ' ~ dataset ~ '.' ~ name) %}
            {% else %}
                {% do run_query('drop table if exists ' ~ dataset ~ '.' ~ name) %}
                {% do run_query(
                    'create table ' ~ dataset ~ '.' ~ name ~ ' (' ~ columns ~ ') using json '
                    ~ 'location \'' ~ root ~ '/' ~ name ~ '\''
                ) %}
            {% endif %}
        {% endfor %}
        {% set schema = _raw_zone_schema(dataset) %}
        {% set tables = schema.get('tables', {}) %}
        {% set fingerprint = local_md5(located ~ ' schema ' ~ schema.get('version_hash', '')) %}
        {% if fingerprint in declared %}
            {% for name in tables if not name.startswith('_dlt') %}
                {% do run_query('msck repair table ' ~ dataset ~ '.' ~ name ~ '__versions') %}
            {% endfor %}
        {% else %}
            {#- Forgotten first: a declaration stopped midway is made again next time. -#}
            {% do _raw_zone_set_declared(dataset, '') %}
            {% for name, table in tables.items() if not name.startswith('_dlt') %}
                {% do _raw_zone_declare(dataset, root, name, table) %}
            {% endfor %}
            {% do _raw_zone_set_declared(dataset, located ~ ' ' ~ fingerprint) %}
        {% endif %}
    {% endfor %}
{% endmacro %}


{#- What a merge on the table's primary key (from dlt's schema) would keep of `versions`,
    from the loads dlt finished (`loads`): a load stopped midway has some of its files in
    the lake, and its versions must not hide the previous ones until a run completes it. -#}
{% macro _newest_versions(versions, table, loads) %}
    {% set keys = [] %}
    {% set deletes = [] %}
    {% for column in table.columns.values() %}
        {% if column.get('primary_key') %}{% do keys.append(column.name) %}{% endif %}
        {% if column.get('hard_delete') %}{% do deletes.append(column.name) %}{% endif %}
    {% endfor %}
    {% set completed = 'select * from ' ~ versions ~ ' where _dlt_load_id in (select load_id from '
        ~ loads ~ ' where status = 0)' %}
    {% if not keys %}
        {{ return(completed) }}
    {% endif %}
    {% set newest_first = '_dlt_load_id desc'
        ~ (', updated_at desc' if 'updated_at' in table.columns else '') %}
    {% set kept = ['_version_rank = 1'] %}
    {% for column in deletes %}
        {% do kept.append('not coalesce(`' ~ column ~ '`, false)') %}
    {% endfor %}
    {{ return(
        'select * from (select *, row_number() over (partition by ' ~ keys | join(', ')
        ~ ' order by ' ~ newest_first ~ ') as _version_rank from (' ~ completed
        ~ ') as completed) as ranked where ' ~ kept | join(' and ')
    ) }}
{% endmacro %}


{#- One raw table declared over its folder: every version of every row (`<name>__versions`,
    partitioned by load day) and the view of the newest ones that the models read. -#}
{% macro _raw_zone_declare(dataset, root, name, table) %}
    {% set columns = [] %}
    {% for column in table.columns.values() if column.get('data_type') %}
        {% do columns.append('`' ~ column.name ~ '` ' ~ _spark_type(column)) %}
    {% endfor %}
    {% set versions = dataset ~ '.' ~ name ~ '__versions' %}
    {% do run_query('drop table if exists ' ~ versions) %}
    {% do run_query(
        'create table ' ~ versions ~ ' (' ~ columns | join(', ')
        ~ ', load_date date) using parquet partitioned by (load_date) location \''
        ~ root ~ '/' ~ name ~ '\''
    ) %}
    {% do run_query('msck repair table ' ~ versions) %}
    {% do run_query(
        'create or replace view ' ~ dataset ~ '.' ~ name ~ ' as '
        ~ _newest_versions(versions, table, dataset ~ '._dlt_loads')
    ) %}
{% endmacro %}


{#- Bump when the declarations above change shape: every raw zone is then declared again. -#}
{% macro _raw_zone_layout() %}{{ return('2') }}{% endmacro %}


{#- What the database's property says was declared last (fingerprints; '' when none). -#}
{% macro _raw_zone_declared(dataset) %}
    {% set described = run_query('describe database extended ' ~ dataset) %}
    {% for row in described.rows if row[0] | lower == 'properties' %}
        {{ return(row[1] or '') }}
    {% endfor %}
    {{ return('') }}
{% endmacro %}


{% macro _raw_zone_set_declared(dataset, fingerprints) %}
    {% do run_query(
        'alter database ' ~ dataset ~ ' set dbproperties (\'jaffle_raw_zone\' = \''
        ~ fingerprints ~ '\')'
    ) %}
{% endmacro %}


{#- The newest dlt schema `dataset` stored, with its version hash (none before its first
    load: a table over a folder that does not exist yet reads as empty). -#}
{% macro _raw_zone_schema(dataset) %}
    {% set newest = run_query(
        'select schema, version_hash from ' ~ dataset ~ '._dlt_version order by version desc, '
        ~ 'inserted_at desc limit 1'
    ) %}
    {% if newest.rows | length == 0 %}
        {{ return({}) }}
    {% endif %}
    {{ return({'tables': fromjson(newest.rows[0][0]).tables,
               'version_hash': newest.rows[0][1]}) }}
{% endmacro %}


{#- A dlt column type as Spark's. -#}
{% macro _spark_type(column) %}
    {% set types = {
        'text': 'string', 'bigint': 'bigint', 'double': 'double', 'bool': 'boolean',
        'timestamp': 'timestamp', 'date': 'date', 'time': 'string', 'json': 'string',
        'binary': 'binary', 'wei': 'decimal(38, 0)'
    } %}
    {% if column.data_type == 'decimal' %}
        {{ return('decimal(' ~ column.get('precision', 38) ~ ', ' ~ column.get('scale', 9) ~ ')') }}
    {% endif %}
    {{ return(types.get(column.data_type, 'string')) }}
{% endmacro %}
