"""The strategies app's configuration: strategies, their runs and orders."""

from django.apps import AppConfig


class StrategiesConfig(AppConfig):
    name = "strategies"
