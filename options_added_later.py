"""Options added to runs after results were first recorded, each with the value that behaves as
before it existed.

A recorded row lacks such an option; a newer row carries it at that value. Both describe the
same run: the run key (experiment.config_key) leaves the option out while it has that value,
so a resumed sweep does not rerun what it has already recorded, and the report
(report.settings_of) fills it in where it is missing, so the two rows land in one table row.
"""

# RunConfig fields
CONFIG = {"autocast_bf16": False, "retrain_index": 0, "closeness_retrains": 0}
# method -> hyperparameters (keyword arguments of the method)
HYPERPARAMETERS = {"lipschitz_forgetting": {"autocast_bf16": False}}


def drop_when_as_before(config: dict) -> dict:
    """A copy of a RunConfig as a dict without the later options that behave as before."""
    resolved = {k: v for k, v in config.items() if not (k in CONFIG and v == CONFIG[k])}
    later = HYPERPARAMETERS.get(config.get("method"), {})
    hyper = config.get("hyperparameters") or {}
    resolved["hyperparameters"] = {k: v for k, v in hyper.items()
                                   if not (k in later and v == later[k])}
    return resolved


def fill_in_missing(config: dict) -> dict:
    """A copy of a recorded config dict with every later option it lacks set as before."""
    filled = {**CONFIG, **config}
    later = HYPERPARAMETERS.get(config.get("method"), {})
    filled["hyperparameters"] = {**later, **(config.get("hyperparameters") or {})}
    return filled
