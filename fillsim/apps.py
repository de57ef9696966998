from django.apps import AppConfig


class FillsimConfig(AppConfig):
    name = "fillsim"
    verbose_name = "Fill simulator"
