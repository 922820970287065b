"""``dlcli sweep``: hyperparameter search over a config's ``sweep:`` block, on Optuna; each trial is a run."""
