"""dsba: train, version and serve tabular classifiers."""
