"""The model families, one module each; each exposes ``FAMILY`` for the trainer."""

#: Registered family name -> module (imported only when used).
FAMILIES: dict[str, str] = {}
