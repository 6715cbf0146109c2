"""A Spark standalone cluster on this machine, started from the pyspark package."""
