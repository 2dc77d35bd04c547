"""The local stack: a real Kafka broker and a real MinIO server as local processes."""
