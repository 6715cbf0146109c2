"""dlt pipelines that extract the Jaffle Shop upstream into the warehouse's raw dataset."""
