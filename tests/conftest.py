"""Shared test settings: the property tests draw the same examples on every run and machine
(``derandomize``), so a red CI is a real failure, never a lucky draw; explore new ones locally
with ``pytest --hypothesis-profile=default``."""

from hypothesis import settings

settings.register_profile("fixed", derandomize=True)
settings.load_profile("fixed")
