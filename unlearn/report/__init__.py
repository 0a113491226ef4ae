"""What is made from recorded result rows: the paper's tables and plots and the report command
(`tables`), the membership-attack table (`attack_table`), and the noise-floor study of runs
replicated over original models, forget sets, seeds and retrains: where a row sits among those
replicates (`replicates`), the study's numbers (`noise_floor`), their statistics (`stats`), its
Markdown, CSV and plot (`noise_floor_output`) and the per-example attacks computed after it from
saved outputs and model pools (`per_example_attacks`). Rows are written by `unlearn.store`; the
attacks themselves are `unlearn.eval.attacks`; an Optuna study is `unlearn.tuning`'s, not this.
Importing `tables` does not load torch."""
