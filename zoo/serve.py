"""`zoo serve`: try the kept models live in a local web page.

The page (templates/serve.html, no CDN) turns a drawing, an uploaded image or a webcam frame
into the dataset's input (e.g. 28x28 grayscale) in the browser and posts it here; every kept
model of that dataset answers with its top-5 classes. Standard library HTTP server, bound to
127.0.0.1 unless told otherwise. Models load with Keras ``safe_mode=True``.
"""
from __future__ import annotations

import ipaddress
import json
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import numpy as np

from zoo.errors import ZooError
from zoo.facts import load_results

MAX_BODY = 4 * 1024 * 1024


class Predictor:
    """Every kept model of the last `zoo run`, by dataset."""

    def __init__(self, results_dir, registry=None):
        from zoo.modelio import load_model

        if registry is None:
            from zoo.plugins import get_registry

            registry = get_registry()
        runs, _ = load_results(results_dir)
        self.datasets, self.models, self.skipped = {}, {}, []
        self._lock = threading.Lock()
        for run in runs:
            info = run.info["dataset"]
            loaded = []
            for model in run.models:
                path = run.store.kept_model(model, [f.fold for f in run.ok_folds(model)])
                if path is None:
                    self.skipped.append(f"{run.name} / {model}: no kept model (run with "
                                        "--keep-models folds or final)")
                    continue
                spec = registry.models.get(model)
                custom = spec.custom_objects() if spec and spec.custom_objects else None
                try:
                    keras_model = load_model(path, custom_objects=custom)
                except Exception as exc:
                    self.skipped.append(f"{run.name} / {model}: cannot load {path} safely: "
                                        f"{type(exc).__name__}: {str(exc)[:300]}")
                    continue
                loaded.append((model, keras_model, path))
            if loaded:
                self.datasets[run.name] = {"name": run.name, "classes": info["classes"],
                                           "input_shape": info["input_shape"],
                                           "models": [m for m, _, _ in loaded]}
                self.models[run.name] = loaded
        if not self.datasets:
            raise ZooError(f"no kept models in {results_dir}: run `zoo run` first"
                           + ("; " + "; ".join(self.skipped) if self.skipped else ""))

    def predict(self, dataset: str, pixels, top: int = 5) -> list:
        """Top classes of every model for one image given as height*width values in [0, 1]."""
        if dataset not in self.datasets:
            raise KeyError(dataset)
        info = self.datasets[dataset]
        h, w, c = info["input_shape"]
        if isinstance(pixels, list):  # from JSON: numbers only, and none beyond float32
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pixels):
                raise ValueError("could not read the pixels: expected numbers in [0, 1]")
            if any(isinstance(v, int) and abs(v) > 1e6 for v in pixels):
                raise ValueError("pixel values must be numbers in [0, 1]; got an integer far "
                                 "out of range")
        x = np.asarray(pixels, dtype=np.float32)
        if x.size != h * w:
            raise ValueError(f"expected {h * w} pixel values ({h}x{w}), got {x.size}")
        if not np.isfinite(x).all():
            raise ValueError("pixel values must be finite numbers in [0, 1]")
        x = np.repeat(np.clip(x, 0, 1).reshape(1, h, w, 1), c, axis=-1)
        out = []
        for name, model, _ in self.models[dataset]:
            start = time.perf_counter()
            with self._lock:  # predict_on_batch reuses one traced function: a few ms a call
                probs = np.asarray(model.predict_on_batch(x))[0]
            order = np.argsort(-probs)[:top]
            out.append({"model": name, "ms": (time.perf_counter() - start) * 1000,
                        "top": [[info["classes"][i], float(probs[i])] for i in order]})
        return out


def page(predictor: Predictor) -> bytes:
    from zoo.report import template_env

    return template_env().get_template("serve.html").render(
        datasets=list(predictor.datasets.values()), skipped=predictor.skipped).encode()


def make_handler(predictor: Predictor, bound_host: str = "127.0.0.1"):
    html = page(predictor)

    class Handler(BaseHTTPRequestHandler):
        server_version = "zoo-serve"

        def log_message(self, fmt, *args):  # quiet: the page polls several times a second
            pass

        def _send(self, status, body: bytes, kind: str):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the page went away meanwhile
                pass

        def _json(self, status, obj):
            self._send(status, json.dumps(obj).encode(), "application/json")

        def _host_ok(self) -> bool:
            """Only requests addressed to this machine by IP or as localhost: a page on some
            web site that rebinds its DNS name to 127.0.0.1 still sends its own name."""
            host = self.headers.get("Host")
            if host is None:  # HTTP/1.0 clients may leave it out; browsers never do
                return True
            name = urlparse(f"//{host}").hostname or ""
            if name in ("localhost", bound_host.lower()):
                return True
            try:
                ipaddress.ip_address(name)
                return True
            except ValueError:
                return False

        def _refuse_host(self):
            self._json(HTTPStatus.FORBIDDEN, {
                "error": f"Host {self.headers.get('Host')!r} is not this machine; open the page "
                         "as http://127.0.0.1:PORT/ or http://localhost:PORT/"})

        def do_GET(self):
            if not self._host_ok():
                return self._refuse_host()
            path = urlparse(self.path).path
            if path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, html, "text/html; charset=utf-8")
            elif path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            elif path == "/api/info":
                self._json(HTTPStatus.OK, {"datasets": list(predictor.datasets.values()),
                                           "skipped": predictor.skipped})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

        def do_POST(self):
            try:
                self._predict()
            except Exception as exc:  # never drop the connection without an answer
                self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                           {"error": f"{type(exc).__name__}: {str(exc)[:300]}"})

        def _predict(self):
            if not self._host_ok():
                return self._refuse_host()
            if urlparse(self.path).path != "/api/predict":
                return self._json(HTTPStatus.NOT_FOUND, {"error": "POST /api/predict only"})
            kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind != "application/json":
                # a form on another web site can post text/plain or form data to a local
                # port without asking; it cannot post application/json
                return self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {
                    "error": f"Content-Type: expected application/json, got {kind or 'none'!r}"})
            raw = self.headers.get("Content-Length")
            try:
                length = int(raw)
            except (TypeError, ValueError):
                self.close_connection = True  # the body's end is unknown
                return self._json(HTTPStatus.BAD_REQUEST, {
                    "error": f"Content-Length: expected a number of bytes, got {raw!r}"})
            if length <= 0 or length > MAX_BODY:
                self.close_connection = True
                return self._json(HTTPStatus.BAD_REQUEST,
                                  {"error": f"expected a JSON body of 1..{MAX_BODY} bytes"})
            try:
                body = json.loads(self.rfile.read(length))
                dataset, pixels = body["dataset"], body["pixels"]
            except RecursionError:
                return self._json(HTTPStatus.BAD_REQUEST,
                                  {"error": "JSON nested too deeply; expected "
                                            '{"dataset": name, "pixels": [numbers]}'})
            except (ValueError, KeyError, TypeError):
                return self._json(HTTPStatus.BAD_REQUEST, {
                    "error": 'expected JSON {"dataset": name, "pixels": [height*width numbers]}'})
            if not isinstance(dataset, str) or not isinstance(pixels, list):
                return self._json(HTTPStatus.BAD_REQUEST, {
                    "error": 'expected JSON {"dataset": name, "pixels": [height*width numbers]}'})
            try:
                result = predictor.predict(dataset, pixels)
            except KeyError:
                return self._json(HTTPStatus.NOT_FOUND, {
                    "error": f"unknown dataset {dataset!r}; known: "
                             + ", ".join(predictor.datasets)})
            except (ValueError, TypeError, OverflowError) as exc:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)[:300]})
            self._json(HTTPStatus.OK, {"dataset": dataset, "models": result})

    return Handler


def make_server(predictor: Predictor, host: str = "127.0.0.1", port: int = 8765):
    try:
        return ThreadingHTTPServer((host, port), make_handler(predictor, host))
    except OSError as exc:
        raise ZooError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def serve_in_thread(predictor, host="127.0.0.1", port=0):
    """Start a server in a daemon thread (for tests); returns (server, url)."""
    server = make_server(predictor, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/"
