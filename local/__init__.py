"""Local runtime: the deployed pipeline, built from the same files, inside moto."""
