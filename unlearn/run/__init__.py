"""One forgetting run: the entry points' command lines, their flags and hyperparameter
resolution (`cli`), and the pipeline they call, seed -> load -> split -> unlearn (timed) ->
evaluate -> record (`experiment`). The pieces it calls live beside it: the data and the tasks'
splits in `unlearn.data`, the methods in `unlearn.methods`, the evaluation in `unlearn.eval`,
results and the model store in `unlearn.store`; many runs at once are `unlearn.sweep`."""
