"""Core domain: callers, entitlements, calls, messages, service requests and confirmations."""
