"""Shadow evaluation: a candidate revision and its baseline replay the same sample of real
requests in the batch lane, and the outcomes are compared and recorded in the store."""
