"""The Flask layer over dsba."""
