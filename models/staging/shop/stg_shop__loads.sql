with

-- dlt records a load's completion again when a run killed after recording it resumes the
-- package: a completed load is one row here however often it was recorded.
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
