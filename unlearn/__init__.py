"""The pipeline behind the entry points: the run, its configuration and command lines,
the methods, training, the model store, results, sweeps, tuning, attacks and the report."""
