"""Processors: the inference engine and the stream-processor loop."""
