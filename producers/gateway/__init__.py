"""The HTTP gateway: tenants' API keys, limits, submits, status, SSE progress, image links.

It publishes with the producers' publish path and reads outcomes back from the topics
itself, holding no state of its own: any number of instances serve the same requests.
"""
