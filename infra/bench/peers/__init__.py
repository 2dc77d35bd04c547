"""`diffstream bench peers`: diffstream against Ray Serve, BentoML, LitServe and a plain
FastAPI server, the same model and the same open-loop load over HTTP, one run."""
