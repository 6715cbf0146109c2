with

source as (

    select * from {{ source('shop', 'tweets') }}

),

final as (

    select
        ----------  ids
        id as tweet_id,
        user_id as customer_id,

        ---------- text
        content as tweet_content,

        ---------- timestamps
        {{ utc_timestamp('tweeted_at') }} as tweeted_at

    from source

)

select * from final
