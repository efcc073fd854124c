"""Helpers shared by the job and the commands, free of pyspark: settings, numbers, exit codes."""
