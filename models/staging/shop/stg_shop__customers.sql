with

source as (

    {{ from_completed_loads('shop', 'customers') }}

),

final as (

    select
        ----------  ids
        id as customer_id,
        _dlt_load_id as load_id,

        ---------- properties
        name as customer_name,
        deleted_at is not null as is_deleted,

        ---------- timestamps
        {{ utc_timestamp('deleted_at') }} as deleted_at,
        {{ utc_timestamp('updated_at') }} as updated_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
