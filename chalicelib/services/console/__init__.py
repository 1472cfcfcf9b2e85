"""The operators' console's static files (SPEC §13)."""
