"""The model store: model directories pushed to the bucket under ``models/NAME/REV/`` with a
manifest, aliases on a compacted topic, and a processor's local, bounded copy of them."""
