"""Training: the one supervised training loop and its learning-rate schedules (`training`), the
runs that train the original model and the retrained gold standard (`pretraining`), torchrun
processes (`distributed`), the epochs and regimes of each dataset's recipe (`recipes`), the
check of the original model a forgetting run starts from (`original_model`) and the seeding of
every generator (`seeding`). Where trained models are kept is `unlearn.store`; the unlearning
methods, which train too, are `unlearn.methods`."""
