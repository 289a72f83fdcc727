"""Training recipes, one module per model family: its losses, phase schedule, dataset binding
and ``FAMILY`` registration. Models (:mod:`vidgan.models`) know nothing of them."""
