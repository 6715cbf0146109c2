-- The catalog database and the shop API describe the same menu: same SKUs, names, types
-- and prices. Returns the products where they differ.

with

api_products as (

    select * from {{ ref('stg_shop__products') }}

),

catalog_products as (

    select * from {{ ref('stg_catalog__products') }}

),

final as (

    select
        coalesce(api_products.product_id, catalog_products.product_id) as product_id,
        api_products.product_price as api_price,
        catalog_products.product_price as catalog_price
    from api_products
    full outer join catalog_products
        on api_products.product_id = catalog_products.product_id
    where
        api_products.product_id is null
        or catalog_products.product_id is null
        or api_products.product_name != catalog_products.product_name
        or api_products.product_type != catalog_products.product_type
        or api_products.product_price != catalog_products.product_price

)

select * from final
