"""What outlives a process: trained models kept once by their recipe (`model_store`), the
results file and optional wandb (`results`), run claims for concurrent sweeps (`claims`), a run's
per-example outputs (`run_outputs`), the pre-flight check that every output can be written
(`preflight`) and writes on a disk that may be full (`disk`), the run options newer than
recorded rows (`stable_keys`) and the code version recorded with each row (`versioning`). What
is computed from the rows (tables, studies) is `unlearn.report`; training is `unlearn.train`."""
