"""dlt pipelines that extract the Jaffle Shop upstream into the warehouse's raw dataset."""

# The sources, one pipeline each (`ingestion.pipeline`); here, so naming them imports nothing.
SOURCES = ("shop_api", "catalog_db")
