"""Models: parameters, training (local or on Dask), evaluation and prediction."""
