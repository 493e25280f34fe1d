"""localcloud's implementation of Model Monitor's built-in analyzer contract (data quality).

`capture` reads the captured requests of a window, `data_quality` computes statistics and
violations against a baseline, `analyzer` is the program a monitoring job runs.
"""
