"""Small helpers that belong to no layer's subject (environment checks)."""
