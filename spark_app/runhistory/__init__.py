"""The v2.0 run record: its model, its rules, and where it is kept (file and database)."""
