-- Warns (does not fail) when the ingestion rejected records: one row per raw table with
-- how many, so `dbt build` prints the count. The records are in `audit_rejected_records`.
{{ config(severity='warn') }}

with

rejected as (

    select * from {{ ref('audit_rejected_records') }}

),

final as (

    select
        source_table,
        count(*) as rejected_count
    from rejected
    group by source_table

)

select * from final
