with

tweets as (

    select * from {{ ref('stg_shop__tweets') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

customers as (

    select * from {{ ref('customers') }}

),

mentions as (

    select
        tweets.tweet_id,
        products.product_id,
        tweets.customer_id,
        tweets.tweet_client,
        tweets.tweeted_at

    from tweets

    inner join products
        on {{ dbt.position('lower(products.product_name)', 'lower(tweets.tweet_content)') }} > 0

),

final as (

    select
        mentions.tweet_id,
        mentions.product_id,
        mentions.customer_id,
        customers.customer_type,
        customers.is_deleted as is_deleted_customer,
        mentions.tweet_client,
        mentions.tweeted_at,
        {{ dbt.cast(dbt.date_trunc('day', 'mentions.tweeted_at'), 'date') }} as tweeted_on

    from mentions

    left join customers
        on mentions.customer_id = customers.customer_id

)

select * from final
