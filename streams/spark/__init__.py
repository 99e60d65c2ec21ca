"""The offline jobs on Apache Spark (``--engine spark``): ETL (:mod:`.etl`), training sets
(:mod:`.join`, :mod:`.train`) and backfill scoring (:mod:`.score`), each running the local
engine's code inside Spark tasks (:mod:`._tasks`); :mod:`.session` builds the SparkSession.

Nothing here imports pyspark at import time: it is an optional extra, imported on use.
"""
