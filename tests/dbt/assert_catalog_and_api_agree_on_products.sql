-- The catalog database and the shop API describe the same menu: same SKUs, names, types
-- and prices. Returns the products where they differ, except products the ingestion kept
-- aside from the API (audit_rejected_records names them) until they load.

with

rejected_products as (

    select rejected_key as product_id
    from {{ ref('audit_rejected_records') }}
    where source_table = 'products'

),

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
        (
            api_products.product_id is null
            and catalog_products.product_id not in (
                select rejected_products.product_id from rejected_products
            )
        )
        or catalog_products.product_id is null
        or api_products.product_name != catalog_products.product_name
        or api_products.product_type != catalog_products.product_type
        or api_products.product_price != catalog_products.product_price

)

select * from final
