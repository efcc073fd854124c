"""The exactly-once batch protocol and one dialect module per database."""
