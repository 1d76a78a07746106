"""Training jobs: their records in the store and the ids that name them."""
