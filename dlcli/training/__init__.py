"""Training: compile (``compile``), choose how to run (``execution``), the one ``fit`` entry point and its
loops (``fastloop``, Keras's ``fit``, ``multiworker``), and the callbacks a run trains with."""
