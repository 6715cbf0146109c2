with

-- dlt recorded a load's completion again when a run killed after recording it resumed the
-- package (ingestion/replayed_loads.py now records it once; warehouses loaded before may
-- hold it twice): a completed load is one row here however often it was recorded.
source as (

    select distinct load_id from {{ source('shop', '_dlt_loads') }}
    where status = 0

),

final as (

    select
        ----------  ids
        load_id,

        ---------- timestamps
        {{ dlt_loaded_at('load_id') }} as loaded_at

    from source

)

select * from final
