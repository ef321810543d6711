"""Run-level statistics, aggregation of records into tables, and comparisons between runs."""
