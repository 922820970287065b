"""What watches a run through ``training.observer.Observer``: ``progress`` (epoch lines on stdout) and
``mlflow`` (the run mirrored to MLflow). A sweep's trial observer lives with the sweep (``sweep.trial``)."""
