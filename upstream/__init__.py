"""The simulated Jaffle Shop platform: the upstream systems the pipelines extract from."""
