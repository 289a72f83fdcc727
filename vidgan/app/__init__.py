"""``vidgan app``: a local web page for the main jobs. :mod:`vidgan.app.jobs` runs each job as the
CLI's own command in the background; :mod:`vidgan.app.page` is the Gradio page over it."""
