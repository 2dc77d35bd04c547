"""Sinks: the MinIO image sink, the webhook notifier and the status view."""
