"""Serving scenarios: MLPerf LoadGen (``mlperf_loadgen``) driving one loaded variant in its
measuring worker. LoadGen is imported only where a scenario runs, never by ``import quantarena``."""
