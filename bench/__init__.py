"""`make bench`: the benchmark harness (see bench/README.md). Not part of the product."""
