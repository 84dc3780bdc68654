"""Persistence foundation: engine, transactions, declarative base and the durable work table."""
