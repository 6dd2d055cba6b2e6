"""zoo's metrics, registered through the register_metrics hook like any plugin's: the core
scores (computed together from one confusion matrix), top-5 accuracy, and the expected
calibration error, drawn in the report as a reliability diagram."""
import math

import zoo
from zoo import metrics


@zoo.hookimpl
def register_metrics(register):
    for name, (label, higher) in metrics.METRICS.items():
        bounds = metrics.BOUNDS[name]
        register(zoo.MetricSpec(name=name, function=metrics.core(name), higher_is_better=higher,
                                label=label, bounds=None if math.isinf(bounds[1]) else bounds))
    register(zoo.MetricSpec(name="top_5_accuracy", function=metrics.top_k_accuracy,
                            label="Top-5 accuracy"))
    register(zoo.MetricSpec(name="ece", function=metrics.expected_calibration_error,
                            higher_is_better=False, label="ECE (calibration)"))
