"""A model card beside every export: Markdown with YAML front matter in the Hugging Face
model-index format (the task, the dataset, each metric as "0.912 ± 0.011", the base model of
a KerasHub preset), then what zoo knows about the model: the protocol it was judged under,
the verdict, the leakage note, the intended use, and the limits zoo measured (training that
had not levelled off, a score near chance, calibration)."""
from __future__ import annotations

import json

from zoo.judge import comparisons as cmp, verdict, words

#: metrics written into the model index, when the run scored them
CARD_METRICS = ("accuracy", "f1", "mcc", "roc_auc", "ece")


def card(run, model: str, export: dict) -> str:
    """The card of ``model`` of ``run`` (a loaded run), exported as ``export`` (the facts
    zoo.grid.export wrote)."""
    said = verdict.conclude(run)
    source = said.lead if model in said.compared else "cv"
    rows = _metrics(run, model, source)
    options = (run.info.get("specs", {}).get(model, {}) or {}).get("options") or {}
    front = {"library_name": "keras", "pipeline_tag": "image-classification",
             "tags": ["image-classification", "keras", "zoo"],
             "datasets": [run.name]}
    if options.get("preset"):
        front["base_model"] = options["preset"]
    lines = ["---"] + [f"{k}: {_yaml(v)}" for k, v in front.items()]
    lines += ["model-index:", f"- name: {_yaml(model)}", "  results:",
              "  - task:", "      type: image-classification",
              "      name: Image Classification", "    dataset:",
              f"      name: {_yaml(run.name)}", f"      type: {_yaml(run.name)}",
              "    metrics:"]
    for r in rows:
        lines += [f"    - type: {_yaml(r['metric'])}", f"      value: {_yaml(r['value'])}",
                  f"      name: {_yaml(r['name'])}"]
    lines += ["---", "", f"# {model} on {run.name}", "", *_body(run, model, export, said, rows)]
    return "\n".join(lines) + "\n"


def _yaml(value) -> str:
    """A value as YAML's flow style (JSON is YAML), non-ASCII kept as it is."""
    return json.dumps(value, ensure_ascii=False)


def _metrics(run, model: str, source: str) -> list:
    """Each card metric as 'mean ± std' over the model's fold models on ``source``."""
    key = "test_scores" if source == "test" else "scores"
    out = []
    for metric in CARD_METRICS:
        values = [getattr(f, key).get(metric) for f in run.ok_folds(model)]
        mean, std = cmp.mean_std(values)
        if mean is None:
            continue
        label = cmp.meta(run, metric)[0] if metric in (run.metrics or {}) or metric in \
            cmp.METRICS else metric
        out.append({"metric": metric, "value": f"{mean:.3f} ± {std:.3f}",
                    "name": f"{label} ({cmp.SOURCES[source]}, mean ± std over "
                            f"{len(run.ok_folds(model))} fold models)"})
    return out


def _body(run, model, export, said, rows) -> list:
    p = run.info["protocol"]
    repeats = int(p.get("repeats") or 1)
    found = [c for c in said.comparisons.get(said.lead, []) if c.primary and
             model in (c.a, c.b)]
    return [
        f"Exported by zoo as {export['format']} from {export['source']} of run "
        f"{run.store.run_id}. Checked against the Keras model on {export['images']:,} images: "
        f"top-1 agreement {export['top1_agreement']:.2%}, largest difference in a "
        f"probability {export['max_abs_diff']:.2e}. One image takes {export['latency_ms']:.2f} "
        f"ms here ({export['keras_latency_ms']:.2f} ms for the Keras model).", "",
        "## Scores", "", *[f"- {r['name']}: {r['value']}" for r in rows], "",
        "## How it was judged", "",
        f"{p['folds']}-fold cross-validation" + (f" repeated {repeats} times" if repeats > 1
                                                 else "")
        + f" (split {p.get('split')}, seed {p.get('seed')}), {p.get('epochs')} epochs, "
        f"batch {p.get('batch_size')}, the same protocol for every model: "
        f"{', '.join(run.models)}.", "",
        said.headline or "No model is shown better than another on the primary metric.", "",
        *[f"- {c.verdict}" for c in found], "",
        " ".join(said.estimands.values()), "",
        "## Leakage", "", words.trust_note(run, verdict.leakage_view(run)), "",
        "## Intended use", "",
        f"Classifying images like those of {run.name}: the same {len(run.classes)} classes "
        f"({', '.join(map(str, run.classes[:12]))}{', ...' if len(run.classes) > 12 else ''}), "
        f"the same input ({'x'.join(map(str, run.info['dataset'].get('input_shape', [])))}). "
        "Images from elsewhere (other cameras, people, backgrounds) were not measured.", "",
        "## Limits zoo measured", "", *_limits(run, model, said)]


def _limits(run, model, said) -> list:
    out = []
    state = said.training.get(model, {})
    if state.get("state") == "still improving":
        out.append(f"- Still improving when training stopped ({state['text']}): a longer "
                   "budget may score higher.")
    if model in said.near_chance:
        c = said.near_chance[model]
        out.append(f"- Accuracy {c['accuracy']:.4f}, within noise of {c['what']} "
                   f"({c['baseline']:.4f}): it was not trained.")
    ece = cmp.mean_std([f.scores.get("ece") for f in run.ok_folds(model)])[0]
    if ece is not None:
        out.append(f"- Expected calibration error {ece:.3f} on held-out folds: its "
                   "probabilities are " + ("close to" if ece < 0.05 else "not") +
                   " the share of answers they get right.")
    return out or ["- None flagged (training levelled off, well above chance)."]
