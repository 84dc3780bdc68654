"""The callback queue: promises made to callers who left a message."""
