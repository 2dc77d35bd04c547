"""`diffstream bench`: the pipeline against a bare diffusers loop, measured in one run."""
