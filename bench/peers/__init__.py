"""The other tools the benchmark times, each run as a whole process from a cold start."""
