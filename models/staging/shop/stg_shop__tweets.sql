with

source as (

    {{ from_completed_loads('shop', 'tweets') }}

),

final as (

    select
        ----------  ids
        id as tweet_id,
        user_id as customer_id,
        _dlt_load_id as load_id,

        ---------- text
        content as tweet_content,
        -- Sent by the API from a schema change on; null for tweets from before it.
        {{ column_if_loaded(source('shop', 'tweets'), 'client', dbt.type_string()) }}
            as tweet_client,

        ---------- timestamps
        {{ utc_timestamp('tweeted_at') }} as tweeted_at,
        {{ dlt_loaded_at() }} as loaded_at

    from source

)

select * from final
