"""Shared test settings: hypothesis runs derandomized so every run checks the same cases."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dlbook",
    derandomize=True,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("dlbook")
