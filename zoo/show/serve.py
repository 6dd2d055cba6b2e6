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
from urllib.parse import parse_qs, urlparse

import numpy as np

from zoo.errors import ZooError
from zoo.judge.facts import load_run
from zoo.grid.modelio import load_model
from zoo.plugins import get_registry
from zoo.show.report import template_env
from zoo.store import find_run, find_runs

MAX_BODY = 4 * 1024 * 1024


class Predictor:
    """The kept models of every run that kept some, by dataset: ``run`` (an id or a unique
    start of one), else the newest such run, loaded at once; the others listed, and loaded
    when the page first asks for them. A run's key is its dataset's name, or 'NAME @ RUN'
    for an older run of a dataset already listed."""

    def __init__(self, results_dir, registry=None, run=None):
        self.registry = registry if registry is not None else get_registry()
        self.datasets, self.models, self.skipped, self.examples = {}, {}, [], {}
        self.rng = np.random.default_rng()
        self._lock = threading.Lock()
        self._stores = {}   # key -> RunStore of a run listed but not loaded yet
        for store in _serving_order(results_dir, run):
            name = store.dataset if store.dataset not in self._stores and \
                store.dataset not in self.datasets else f"{store.dataset} @ {store.run_id}"
            self._stores[name] = store
        for key in list(self._stores):   # the first run whose models load, at once
            self._ensure(key)
            if self.models:
                break
        for key, store in self._stores.items():   # the others listed, loaded on first use
            self.datasets[key] = _listed(key, store)
        if not self.models:
            raise ZooError(f"no kept models in {results_dir}: run `zoo run` first"
                           + ("; " + "; ".join(self.skipped) if self.skipped else ""))

    def _ensure(self, key: str) -> None:
        """Load the kept models of the run listed under ``key`` (once)."""
        with self._lock:
            store = self._stores.pop(key, None)
            if store is None:
                return
            run = load_run(store, {})
            info = run.info["dataset"]
            loaded = []
            for model in run.models:
                found = self._load(run, model, self.registry)
                if found is not None:
                    loaded.append((model, *found))
            examples = store.read_examples()
            self.datasets[key] = {**_listed(key, store, run), "loaded": True,
                                  "classes": info["classes"],
                                  "input_shape": info["input_shape"],
                                  "models": [m for m, _, _ in loaded],
                                  "examples": examples[2] if examples else ""}
            if loaded:
                self.models[key] = loaded
            else:
                self.datasets.pop(key)
            if examples is not None and loaded:
                self.examples[key] = examples

    def _ready(self, dataset: str) -> None:
        """The run listed under ``dataset`` with its models loaded: KeyError for a key that is
        not listed, ValueError when none of its kept models loads."""
        if dataset not in self.datasets:
            raise KeyError(dataset)
        self._ensure(dataset)
        if dataset not in self.datasets:
            raise ValueError(f"{dataset}: none of its kept models loads "
                             f"({'; '.join(self.skipped)})")

    def _load(self, run, model: str, registry):
        """(keras model, path) of the first of the model's kept models that loads safely;
        a damaged one is named and gives way to the next (a damaged fold-01.keras once hid
        a good fold-02.keras). None, with the reasons, when none loads."""
        paths = run.store.kept_models(model, sorted(f.fold for f in run.ok_folds(model)))
        if not paths:
            self.skipped.append(f"{run.name} / {model}: no kept model (run with "
                                "--keep-models folds or final)")
            return None
        custom = registry.custom_objects(run.base(model))
        for path in paths:
            try:
                return load_model(path, custom_objects=custom), path
            except Exception as exc:
                self.skipped.append(f"{run.name} / {model}: cannot load {path} safely: "
                                    f"{type(exc).__name__}: {str(exc)[:300]}"
                                    + ("; serving the next kept model" if path != paths[-1]
                                       else ""))
        return None

    def example(self, dataset: str, index: int | None = None) -> dict:
        """One of the run's kept images that no served model trained on, or that says which
        one did (a random one when ``index`` is None): its true class, every model's top 5,
        and whether each model got it right."""
        self._ready(dataset)
        if dataset not in self.examples:
            raise ValueError(f"{dataset}: this run kept no example images (made before zoo "
                             "kept them); run it again to have some")
        images, labels, source, fold = self.examples[dataset]
        if index is None:
            index = int(self.rng.integers(len(labels)))
        if not 0 <= index < len(labels):
            raise ValueError(f"index: expected 0..{len(labels) - 1}, got {index}")
        image = images[index].astype(np.float32) / 255
        truth = self.datasets[dataset]["classes"][int(labels[index])]
        answers = self._predict(dataset, image[None])
        for a, (_, _, path) in zip(answers, self.models[dataset], strict=True):
            a["right"] = bool(a["top"][0][0] == truth)
            a["seen"] = fold is not None and path.stem != f"fold-{fold + 1:02d}"
        return {"dataset": dataset, "index": index, "source": source, "label": truth,
                "pixels": np.round(image, 3).ravel().tolist(),
                "shape": list(image.shape), "models": answers}

    def predict(self, dataset: str, pixels, top: int = 5, scale: float = 1) -> list:
        """Top classes of every model for one image given as height*width values in [0, 1]
        (gray), or height*width*channels values (row by row, the channels of a pixel
        together) for a colour dataset; ``scale`` 255: values in [0, 255]. A value outside
        the range is refused, never clipped (0-255 pixels sent as 0-1 turned white)."""
        self._ready(dataset)
        x = image_from(pixels, self.datasets[dataset]["input_shape"], scale)
        return self._predict(dataset, x, top)

    def _predict(self, dataset: str, x: np.ndarray, top: int = 5) -> list:
        info = self.datasets[dataset]
        out = []
        for name, model, _ in self.models[dataset]:
            start = time.perf_counter()
            with self._lock:  # predict_on_batch reuses one traced function: a few ms a call
                probs = np.asarray(model.predict_on_batch(x))[0]
            order = np.argsort(-probs)[:top]
            out.append({"model": name, "ms": (time.perf_counter() - start) * 1000,
                        "top": [[info["classes"][i], float(probs[i])] for i in order]})
        return out


def _serving_order(results_dir, run) -> list:
    """The runs with kept models, newest first; ``run``'s first when given."""
    stores = [s for s in find_runs(results_dir) if _keeps_models(s)]
    if run is None:
        return stores
    chosen = find_run(results_dir, run)
    if not _keeps_models(chosen):
        raise ZooError(f"--run: run {chosen.run_id} ({chosen.dataset}) kept no models; "
                       "run it with --keep-models folds or final")
    return [chosen] + [s for s in stores if s.path != chosen.path]


def _keeps_models(store) -> bool:
    """The run kept a model (a fold's or the final one) to serve."""
    return any(store.path.glob("*/*.keras"))


def _listed(key: str, store, run=None) -> dict:
    """What the page knows of a run before its models load: its key, dataset, id and date,
    and (from run.json) its classes and input shape."""
    info = run.info if run is not None else store.read_run()
    dataset = info.get("dataset", {})
    started = str(info.get("started_at", ""))[:16].replace("T", " ")
    return {"name": key, "dataset": dataset.get("name", store.dataset), "run_id": store.run_id,
            "label": f"{dataset.get('name', store.dataset)} (run {store.run_id}, {started})",
            "classes": dataset.get("classes", []), "input_shape": dataset.get("input_shape"),
            "models": list(info.get("models", [])), "examples": "", "loaded": False}



def page(predictor: Predictor) -> bytes:
    return template_env().get_template("serve.html").render(
        datasets=list(predictor.datasets.values()), skipped=predictor.skipped).encode()


class HttpError(Exception):
    """A request answered with ``status`` and a JSON ``{"error": message}``; ``close``: the
    connection cannot be reused (the end of the request body is unknown)."""

    def __init__(self, status, message: str, close: bool = False):
        super().__init__(message)
        self.status, self.message, self.close = status, message, close


PREDICT_SHAPE = 'expected JSON {"dataset": name, "pixels": [height*width numbers]}'


def host_ok(host, bound_host: str) -> bool:
    """Only requests addressed to this machine by IP or as localhost: a page on some web site
    that rebinds its DNS name to 127.0.0.1 still sends its own name. HTTP/1.0 clients may
    leave Host out; browsers never do."""
    if host is None:
        return True
    name = urlparse(f"//{host}").hostname or ""
    if name in ("localhost", bound_host.lower()):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


def read_json(headers, rfile):
    """The JSON body of a POST: its Content-Type must be application/json (a form on another
    web site can post text/plain or form data to a local port without asking; it cannot post
    application/json) and its Content-Length 1..MAX_BODY bytes."""
    kind = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise HttpError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                        f"Content-Type: expected application/json, got {kind or 'none'!r}")
    raw = headers.get("Content-Length")
    try:
        length = int(raw)
    except (TypeError, ValueError):
        raise HttpError(HTTPStatus.BAD_REQUEST,
                        f"Content-Length: expected a number of bytes, got {raw!r}",
                        close=True) from None
    if length <= 0 or length > MAX_BODY:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"expected a JSON body of 1..{MAX_BODY} bytes",
                        close=True)
    try:
        return json.loads(rfile.read(length))
    except RecursionError:
        raise HttpError(HTTPStatus.BAD_REQUEST, "JSON nested too deeply; expected "
                        '{"dataset": name, "pixels": [numbers]}') from None
    except ValueError:
        raise HttpError(HTTPStatus.BAD_REQUEST, PREDICT_SHAPE) from None


def image_from(pixels, shape, scale: float = 1) -> np.ndarray:
    """One image (1, height, width, channels) in [0, 1] from a request's pixel values, checked:
    numbers, as many as the shape takes (gray values are repeated for a colour model),
    finite and within [0, ``scale``]."""
    h, w, c = shape
    if isinstance(pixels, list):  # from JSON: numbers only, and none beyond float32
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pixels):
            raise ValueError("could not read the pixels: expected numbers in [0, 1]")
        if any(isinstance(v, int) and abs(v) > 1e6 for v in pixels):
            raise ValueError("pixel values must be numbers in [0, 1]; got an integer far "
                             "out of range")
    x = np.asarray(pixels, dtype=np.float32)
    if x.size not in (h * w, h * w * c):
        raise ValueError(f"expected {h * w} pixel values ({h}x{w})"
                         + (f" or {h * w * c} ({h}x{w}x{c})" if c > 1 else "")
                         + f", got {x.size}")
    if not np.isfinite(x).all():
        raise ValueError("pixel values must be finite numbers in [0, 1]")
    if x.min() < 0 or x.max() > scale * (1 + 1e-6):
        raise ValueError(f"pixel values must be in [0, {scale:g}]; got values from "
                         f"{x.min():g} to {x.max():g}"
                         + ('; for 0-255 pixels send "scale": 255' if scale == 1 else ""))
    x = np.clip(x / scale, 0, 1).reshape(1, h, w, -1)
    return np.repeat(x, c, axis=-1) if x.shape[-1] == 1 else x


def predict_route(predictor: Predictor, body) -> dict:
    """POST /api/predict: every model's top 5 for one image."""
    if not isinstance(body, dict) or not isinstance(body.get("dataset"), str) \
            or not isinstance(body.get("pixels"), list):
        raise HttpError(HTTPStatus.BAD_REQUEST, PREDICT_SHAPE)
    dataset, scale = body["dataset"], body.get("scale", 1)
    if scale not in (1, 255) or isinstance(scale, bool):
        raise HttpError(HTTPStatus.BAD_REQUEST, f'"scale": expected 1 (pixels in [0, 1], the '
                        f'default) or 255 (pixels in [0, 255]), got {scale!r}')
    try:
        return {"dataset": dataset, "models": predictor.predict(dataset, body["pixels"],
                                                                 scale=scale)}
    except KeyError:
        raise HttpError(HTTPStatus.NOT_FOUND, f"unknown dataset {dataset!r}; known: "
                        + ", ".join(predictor.datasets)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)[:300]) from None


class Handler(BaseHTTPRequestHandler):
    """Answers every request from its routes (:func:`make_handler` binds them): a page, JSON,
    or a JSON error, never a dropped connection. Requests not addressed to this machine are
    refused."""

    server_version = "zoo-serve"
    bound_host = "127.0.0.1"
    get_routes: dict = {}    # path -> () -> (status, body, content type)
    query_routes: dict = {}  # path -> (query parameters) -> (status, body, content type)
    post_routes: dict = {}   # path -> (JSON body) -> JSON answer

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

    def _answer(self, route):
        try:
            if not host_ok(self.headers.get("Host"), self.bound_host):
                raise HttpError(HTTPStatus.FORBIDDEN, f"Host {self.headers.get('Host')!r} is "
                                "not this machine; open the page as http://127.0.0.1:PORT/ or "
                                "http://localhost:PORT/")
            self._send(*route())
        except HttpError as exc:
            self.close_connection = self.close_connection or exc.close
            self._send(*_json_body(exc.status, {"error": exc.message}))
        except Exception as exc:  # never drop the connection without an answer
            self._send(*_json_body(HTTPStatus.INTERNAL_SERVER_ERROR,
                                   {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}))

    def do_GET(self):
        url = urlparse(self.path)
        if url.path in self.query_routes:
            route = self.query_routes[url.path]
            return self._answer(lambda: route(parse_qs(url.query)))
        self._answer(self.get_routes.get(url.path, _not_found(f"no such page: {url.path}")))

    def do_POST(self):
        path = urlparse(self.path).path
        if path not in self.post_routes:
            return self._answer(_not_found("POST /api/predict only"))
        route = self.post_routes[path]
        self._answer(lambda: _json_body(HTTPStatus.OK,
                                        route(read_json(self.headers, self.rfile))))


def example_route(predictor: Predictor, query: dict) -> dict:
    """GET /api/example?dataset=NAME[&index=I]: a kept image, its true class and every
    model's answer."""
    names = query.get("dataset") or [next(iter(predictor.datasets))]
    index = query.get("index")
    try:
        index = int(index[0]) if index else None
    except ValueError:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"index: expected an integer, got "
                        f"{index[0]!r}") from None
    try:
        return predictor.example(names[0], index)
    except KeyError:
        raise HttpError(HTTPStatus.NOT_FOUND, f"unknown dataset {names[0]!r}; known: "
                        + ", ".join(predictor.datasets)) from None
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None


def make_handler(predictor: Predictor, bound_host: str = "127.0.0.1"):
    """A :class:`Handler` with the routes of ``predictor``: the page, the models' info, and
    POST /api/predict."""
    html = page(predictor)

    def the_page():
        return HTTPStatus.OK, html, "text/html; charset=utf-8"

    def info():
        return _json_body(HTTPStatus.OK, {"datasets": list(predictor.datasets.values()),
                                          "skipped": predictor.skipped})

    def example(query):
        return _json_body(HTTPStatus.OK, example_route(predictor, query))

    return type("Handler", (Handler,), {
        "bound_host": bound_host,
        "query_routes": {"/api/example": example},
        "get_routes": {"/": the_page, "/index.html": the_page, "/api/info": info,
                       "/favicon.ico": lambda: (HTTPStatus.NO_CONTENT, b"", "image/x-icon")},
        "post_routes": {"/api/predict": lambda body: predict_route(predictor, body)}})


def _json_body(status, obj) -> tuple:
    return status, json.dumps(obj).encode(), "application/json"


def _not_found(message: str):
    def route():
        raise HttpError(HTTPStatus.NOT_FOUND, message)

    return route


class Server(ThreadingHTTPServer):
    """A thread per connection, within limits: a listen backlog for bursts (socketserver's 5
    dropped connections under 50 concurrent posts), at most ``max_connections`` served at
    once (the next get a quick 503), and a read timeout so that an idle or slow client does
    not hold a thread for good."""

    request_queue_size = 128
    daemon_threads = True
    max_connections = 64

    def __init__(self, address, handler, max_connections: int | None = None):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections or self.max_connections)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Retry-After: 1\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def make_server(predictor: Predictor, host: str = "127.0.0.1", port: int = 8765,
                timeout: float = 10.0, max_connections: int | None = None):
    """The server of ``predictor``'s page and API; ``timeout``: seconds a connection may wait
    for a client's request before it is closed."""
    handler = make_handler(predictor, host)
    handler.timeout = timeout
    try:
        return Server((host, port), handler, max_connections)
    except OSError as exc:
        raise ZooError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_in_thread(predictor, host="127.0.0.1", port=0, **kwargs):
    """Start a server in a daemon thread (for tests); returns (server, url)."""
    server = make_server(predictor, host, port, **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{host}:{server.server_address[1]}/"
