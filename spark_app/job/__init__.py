"""The Spark job: settings, the one SparkSession builder, stream wiring and its lifecycle."""
