"""Run directories: their files (``store``), resume checkpoints (``checkpoints``), a finished run read back
(``saved``), and listing (``listing``)."""
