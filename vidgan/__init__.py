"""vidgan."""
