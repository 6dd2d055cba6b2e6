"""The hooks a zoo plugin can implement."""
import pluggy

hookspec = pluggy.HookspecMarker("zoo")


@hookspec
def register_models(register):
    """Register image-classification models: call `register(zoo.ModelSpec(...))` once per model."""


@hookspec
def register_datasets(register):
    """Register datasets: call `register(zoo.DatasetSpec(...))` once per dataset."""


@hookspec
def register_metrics(register):
    """Register metrics: call `register(zoo.MetricSpec(...))` once per metric."""
