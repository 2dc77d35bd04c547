"""The status view: the latest state per request and counts per batch, served over HTTP.

Importing this package is light: faust is imported only by ``sinks.view.app``.
"""
