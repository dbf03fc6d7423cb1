"""`make bench`: measurements of the whole system, never timed assertions in tests."""
