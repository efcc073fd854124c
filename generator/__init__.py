"""Faker-based generator of e-commerce event CSV files dropped atomically into a folder."""
