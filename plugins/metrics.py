"""zoo's metrics, registered through the register_metrics hook like any plugin's: the core
scores (computed together from one confusion matrix), top-5 accuracy, and the expected
calibration error, drawn in the report as a reliability diagram."""
import zoo
from zoo import metrics

#: name -> (higher is better, bounds)
CORE = {"accuracy": (True, (0.0, 1.0)), "balanced_accuracy": (True, (0.0, 1.0)),
        "roc_auc": (True, (0.0, 1.0)), "precision": (True, (0.0, 1.0)),
        "recall": (True, (0.0, 1.0)), "f1": (True, (0.0, 1.0)), "mcc": (True, (-1.0, 1.0)),
        "kappa": (True, (-1.0, 1.0)), "log_loss": (False, None)}


@zoo.hookimpl
def register_metrics(register):
    for name, (higher, bounds) in CORE.items():
        register(zoo.MetricSpec(name=name, function=metrics.core(name), higher_is_better=higher,
                                label=metrics.CORE_LABELS[name], bounds=bounds))
    register(zoo.MetricSpec(name="top_5_accuracy", function=metrics.top_k_accuracy,
                            label="Top-5 accuracy"))
    register(zoo.MetricSpec(name="ece", function=metrics.expected_calibration_error,
                            higher_is_better=False, label="ECE (calibration)"))
