{#- What an incremental build of `product_mentions` cannot do key by key.

    It rewrites the mentions of the tweets loaded since, and of the customers rebuilt since
    (their type or deletion changed), tweet by tweet. Two changes reach tweets outside those:
    a product new or renamed since (any older tweet may name it, or have named it by its old
    name), and a tweet loaded again (its text may have changed; a tweet that no longer names
    any product has no new row to replace its old ones). Either one rebuilds the whole mart:
    the pre-hook below empties it, so the build reads every load. Prices change every hour,
    names almost never: a product counts as changed only when the mart holds no mention by
    its current name. -#}

{% macro mentions_need_rebuild_all() -%}
    exists (
        select 1 from {{ ref('stg_shop__products') }} as products
        where
            products.loaded_at > {{ incremental_since() }}
            and not exists (
                select 1 from {{ this }} as mentioned
                where
                    mentioned.product_id = products.product_id
                    and mentioned.product_name = products.product_name
            )
    )
    or exists (
        select 1
        from {{ ref('stg_shop__tweets') }} as tweets
        inner join {{ this }} as mentioned
            on tweets.tweet_id = mentioned.tweet_id
        where
            tweets.load_id in (
                {{ loads_since(ref('stg_shop__loads'), incremental_since()) }}
            )
            and tweets.loaded_at > mentioned.loaded_at
    )
{%- endmacro %}


{#- pre_hook: empty the mart when it must be rebuilt whole (after the publish log has
    recorded it as such, `mentions_since`). -#}
{% macro mentions_rebuild_all() -%}
    {%- if execute and is_incremental() -%}
        delete from {{ this }} where {{ mentions_need_rebuild_all() }}
    {%- endif -%}
{%- endmacro %}


{#- The `since` of this build for the publish log: none (compare every row) when it rebuilds
    the mart whole. -#}
{% macro mentions_since() -%}
    case when {{ mentions_need_rebuild_all() }} then null else {{ incremental_since() }} end
{%- endmacro %}
