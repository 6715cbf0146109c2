{{
    config(
        materialized=keyed_mart_materialization(),
        unique_key='tweet_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ log_write_for_publish(mentions_since()) }}",
            "{{ mentions_rebuild_all() }}"
        ]
    )
}}

-- depends_on: {{ ref('stg_shop__loads') }}
{{ require_current_upstream_marts(['order_items', 'orders', 'customers']) }}

with

{% if is_incremental() %}

    new_loads as (

        {{ loads_since(ref('stg_shop__loads'), incremental_since()) }}

    ),

    changed_customers as (

        select customer_id from {{ ref('customers') }}
        where loaded_at > {{ incremental_since() }}

    ),

    tweets_to_rebuild as (

        select tweets.tweet_id
        from {{ ref('stg_shop__tweets') }} as tweets
        inner join new_loads on tweets.load_id = new_loads.load_id

        union

        select tweets.tweet_id
        from {{ ref('stg_shop__tweets') }} as tweets
        inner join changed_customers on tweets.customer_id = changed_customers.customer_id

    ),

{% endif %}

tweets as (

    select * from {{ ref('stg_shop__tweets') }}

    {% if is_incremental() %}
        where tweet_id in (select tweets_to_rebuild.tweet_id from tweets_to_rebuild)
    {% endif %}

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
        products.product_name,
        tweets.customer_id,
        tweets.tweet_client,
        tweets.tweeted_at,
        tweets.loaded_at

    from tweets

    inner join products
        on {{ dbt.position('lower(products.product_name)', 'lower(tweets.tweet_content)') }} > 0

),

final as (

    select
        mentions.tweet_id,
        mentions.product_id,
        mentions.product_name,
        mentions.customer_id,
        customers.customer_type,
        customers.is_deleted as is_deleted_customer,
        mentions.tweet_client,
        mentions.tweeted_at,
        {{ dbt.cast(dbt.date_trunc('day', 'mentions.tweeted_at'), 'date') }} as tweeted_on,
        case
            when customers.loaded_at > mentions.loaded_at then customers.loaded_at
            else mentions.loaded_at
        end as loaded_at

    from mentions

    left join customers
        on mentions.customer_id = customers.customer_id

)

select * from final
