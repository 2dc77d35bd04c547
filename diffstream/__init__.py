"""diffstream: a Kafka event-streaming pipeline for diffusion image generation.

This package is the shared core (settings, logging, metrics, errors); the roles live in
``producers``, ``processors`` and ``sinks`` and meet only in topics and in ``schemas``.
"""

__version__ = "0.1.0"
