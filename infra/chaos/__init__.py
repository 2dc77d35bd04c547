"""`diffstream chaos` (`make chaos`): the fault suite against a local stack of its own.

Every role runs as a real OS process, so a scenario can kill -9 it; the broker and MinIO
are the stack's real servers, killed and started again. Each scenario then reads the
outcomes back (read_committed) and the bucket, and is judged on what a user is promised:
no request lost, none with more than one outcome, no image missing.
"""
