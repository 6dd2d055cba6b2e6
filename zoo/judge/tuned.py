"""What a tuned run says about its searches (zoo.tune.search), from facts only: the settings each
outer fold's search chose, the budget every model got, the ranges that may have been too
narrow, and the sentences the conclusion opens with."""
from __future__ import annotations

from zoo.schema import fold_count
from zoo.tune import space


def params(tuning: dict) -> list:
    """The zoo.tune.space.Param of every entry of a run's saved search."""
    out = []
    for p in tuning.get("space", []):
        fields = {k: v for k, v in p.items() if k != "text"}
        if "choices" in fields:
            fields["choices"] = tuple(fields["choices"])
        out.append(space.Param(**fields))
    return out


def _model_params(run, model: str, all_params) -> list:
    spec = run.info.get("specs", {}).get(model, {})
    names = {model, spec.get("base") or model}
    return [p for p in all_params if p.model is None or p.model in names]


def view(run) -> dict | None:
    """The searches of a tuned run, for the report and the conclusion; None when nothing was
    tuned. Per model: a row per outer fold (the chosen settings, the best inner score, the
    trials, pruned and failed ones, the epochs they trained) and the edges of a range that
    the chosen value sat at in most folds."""
    tuning = run.info.get("tuning")
    if not tuning:
        return None
    all_params = params(tuning)
    models = {}
    for m in run.models:
        rows = [{"fold": f.fold + 1, **f.facts["tuned"]} for f in run.folds.get(m, [])
                if f.facts.get("tuned")]
        mine = _model_params(run, m, all_params)
        models[m] = {"rows": rows, "params": mine,
                     "trials": [t for ts in run.trials.get(m, {}).values() for t in ts],
                     "edges": _edges(rows, mine),
                     "epochs": sum(r.get("epochs", 0) for r in rows) if tuning["scope"] ==
                     "fold" else (rows[0].get("epochs", 0) if rows else 0)}
    v = {"tuning": tuning, "params": all_params, "models": models,
         "keys": [p.key for p in all_params]}
    v["sentence"] = sentence(v, run)
    return v


def _edges(rows, model_params) -> list:
    """(key, 'lower'/'upper', folds at that end, folds) for every range whose chosen value
    sat at one end in most of the model's folds."""
    out = []
    chosen = [r for r in rows if not r.get("fallback")]
    for p in model_params:
        for end in ("lower", "upper"):
            n = sum(p.edge(r["settings"].get(p.key)) == end for r in chosen)
            if chosen and n * 2 > len(chosen):
                out.append((p.key, end, n, len(chosen)))
    return out


def sentence(v, run) -> str:
    """How the models were tuned, what that leaves open, in words."""
    t = v["tuning"]
    protocol = run.info["protocol"]
    where = (f"in each of the {protocol['folds']} outer folds, on an inner split of its "
             "training part" if t["scope"] == "fold" else
             "once, on an inner split of the whole training set")
    parts = [f"Every model was compared at tuned settings: each got the same search, "
             f"{t['trials']} trials of at most {protocol['epochs']} epochs {where} (Optuna's "
             f"TPE, scored by {t['metric'].replace('_', ' ')}"
             + ("; hopeless trials stopped early" if t["prune"] else "") + "), over "
             + ", ".join(f"{p.key} {p.text()}" for p in v["params"]) + "."]
    if t["prune"]:
        parts += _pruned(v, t, protocol)
    for m, d in v["models"].items():
        parts += _model_notes(m, d)
    if t["scope"] == "once":
        has_test = bool(run.info["dataset"].get("test_samples"))
        parts.append("The settings were chosen once on the whole training set, which holds "
                     "every held-out fold, so the held-out scores are optimistic; "
                     + ("the official test split, which the search never saw, leads."
                        if has_test else "with no official test split, no score here is "
                        "free of that bias: use --tune-scope fold for one."))
    return " ".join(parts)


def _pruned(v, t, protocol) -> list:
    """How many epochs the pruned searches trained, of how many."""
    searches = fold_count(protocol) if t["scope"] == "fold" else 1
    used = [f"{m} {d['epochs']}" for m, d in v["models"].items() if d["rows"]]
    if not used:
        return []
    return [f"Epochs the trials trained after pruning (of "
            f"{searches * t['trials'] * protocol['epochs']} without it): "
            + ", ".join(used) + "."]


def _model_notes(m: str, d: dict) -> list:
    """Folds where no trial of model ``m`` finished, and ranges its choices pressed on."""
    out = []
    fallback = [r["fold"] for r in d["rows"] if r.get("fallback")]
    if fallback:
        out.append(f"In fold{'s' * (len(fallback) > 1)} {', '.join(map(str, fallback))} no "
                   f"trial of {m} trained to the end; it used the untuned settings there.")
    for key, end, n, k in d["edges"]:
        out.append(f"The range may be too narrow for {m}: best {key} at the {end} bound in "
                   f"{n} of {k} fold{'s' * (k > 1)}.")
    return out


def rows_for_csv(run) -> list:
    """(model, outer fold or 'all', trial, settings, score, pruned, status, epochs) of every
    trial, for metrics.csv's companion."""
    out = []
    for m, by in run.trials.items():
        for fold, trials in by.items():
            for t in trials:
                out.append({"model": m, "fold": "all" if fold is None else fold + 1,
                            "trial": t["trial"] + 1, "settings": t.get("settings", {}),
                            "score": t.get("score"), "metric": t.get("metric"),
                            "pruned": bool(t.get("pruned")), "status": t.get("status"),
                            "epochs": t.get("epochs_run")})
    return out
