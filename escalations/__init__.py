"""Escalations: a customer's SR raised to the region's duty manager and carried to its close."""
