"""Staff-facing edge: JSON API and operations endpoints."""
