"""Equal tuning: the search space (checked before anything trains) and the Optuna ask/tell
search whose trials run as cells beside the folds."""
