"""The event contract: Avro schemas, codec, topic names and their configuration."""
