"""`zoo serve`: kept models answer live, in a real (headless) browser."""
import json
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from click.testing import CliRunner

import zoo
from chrome import Chrome
from conftest import TinyModelPlugin, TinyPlugin
from zoo.show import png
from zoo.cli import cli
from zoo.show.serve import Predictor, make_server, serve_in_thread


def train(results, *args):
    r = CliRunner().invoke(cli, ["run", *args, "--quiet", "--results", str(results),
                                 "--out", str(results / "report")], catch_exceptions=False)
    assert r.exit_code == 0, r.output


@pytest.fixture(scope="module")
def sign_results(kaggle_csv_dir, tmp_path_factory):
    """The CNN trained through the sign-mnist plugin on Kaggle-format CSVs (made up, so
    that these tests need no real data)."""
    results = tmp_path_factory.mktemp("sign-results")
    train(results, "cnn", "--dataset", "sign-mnist", "--data-dir", str(kaggle_csv_dir),
          "--folds", "2", "--epochs", "4", "--lr", "0.003")
    return results


@pytest.fixture(scope="module")
def server(sign_results):
    predictor = Predictor(sign_results)
    srv, url = serve_in_thread(predictor)
    yield predictor, url
    srv.shutdown()
    srv.server_close()


def post(url, body: bytes):
    request = urllib.request.Request(url + "api/predict", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_api_answers_with_top_5_per_model(server):
    predictor, url = server
    status, body = post(url, json.dumps({"dataset": "sign-mnist", "pixels": [0.5] * 784}).encode())
    assert status == 200
    (model,) = body["models"]
    assert model["model"] == "cnn" and len(model["top"]) == 5
    probs = [p for _, p in model["top"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
    assert all(name in "ABCDEFGHIKLMNOPQRSTUVWXY" for name, _ in model["top"])


def test_0_255_pixels_are_taken_when_the_request_says_so(server):
    predictor, url = server
    image = np.linspace(0, 1, 784)
    _, as_fractions = post(url, json.dumps({"dataset": "sign-mnist",
                                            "pixels": image.tolist()}).encode())
    status, as_bytes = post(url, json.dumps({"dataset": "sign-mnist", "scale": 255,
                                             "pixels": (image * 255).tolist()}).encode())
    assert status == 200
    assert [t[0] for t in as_bytes["models"][0]["top"]] == \
        [t[0] for t in as_fractions["models"][0]["top"]]


@pytest.mark.parametrize("body, status, message", [
    (b"not json", 400, 'expected JSON {"dataset": name'),
    (json.dumps({"dataset": "nope", "pixels": [0] * 784}).encode(), 404,
     "unknown dataset 'nope'; known: sign-mnist"),
    (json.dumps({"dataset": "sign-mnist", "pixels": [0] * 10}).encode(), 400,
     "expected 784 pixel values (28x28), got 10"),
    (json.dumps({"dataset": "sign-mnist", "pixels": ["x"] * 784}).encode(), 400, "could not"),
    # 0-255 pixels where 0-1 is expected were clipped to 1: a white image, answered
    (json.dumps({"dataset": "sign-mnist", "pixels": [200] * 784}).encode(), 400,
     'pixel values must be in [0, 1]; got values from 200 to 200; for 0-255 pixels send '
     '"scale": 255'),
    (json.dumps({"dataset": "sign-mnist", "pixels": [-0.5] + [0] * 783}).encode(), 400,
     "must be in [0, 1]; got values from -0.5 to 0"),
    (json.dumps({"dataset": "sign-mnist", "pixels": [300] * 784, "scale": 255}).encode(), 400,
     "pixel values must be in [0, 255]; got values from 300 to 300"),
    (json.dumps({"dataset": "sign-mnist", "pixels": [0] * 784, "scale": 100}).encode(), 400,
     '"scale": expected 1 (pixels in [0, 1], the default) or 255'),
])
def test_bad_requests_get_clear_errors(server, body, status, message):
    got, answer = post(server[1], body)
    assert got == status and message in answer["error"]


def raw_request(url, data: bytes) -> tuple:
    """Send bytes as they are (no client-side checks) and return (status, parsed JSON)."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    reply = b"".join(chunks).decode()
    assert reply.startswith("HTTP/1."), f"no HTTP status, the connection was dropped: {reply!r}"
    head, _, body = reply.partition("\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def request_bytes(body: bytes, host="127.0.0.1", kind="application/json", length=None):
    length = len(body) if length is None else length
    return (f"POST /api/predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode() + body


def test_malformed_requests_get_a_400_not_a_dropped_connection(server):
    url = server[1]
    status, answer = raw_request(url, request_bytes(b"{}", length="abc"))
    assert status == 400 and "Content-Length: expected a number of bytes, got 'abc'" in answer["error"]
    deep = b"[" * 100_000 + b"]" * 100_000
    status, answer = raw_request(url, request_bytes(deep))
    assert status == 400 and "nested too deeply" in answer["error"]
    huge = ('{"dataset": "sign-mnist", "pixels": [1' + "0" * 400 + "]}").encode()
    status, answer = raw_request(url, request_bytes(huge))
    assert status == 400 and "out of range" in answer["error"]
    # the server is still up and answers a good request
    status, _ = post(url, json.dumps({"dataset": "sign-mnist", "pixels": [0.5] * 784}).encode())
    assert status == 200


def test_cross_site_forms_and_rebound_host_names_are_refused(server):
    url = server[1]
    good = json.dumps({"dataset": "sign-mnist", "pixels": [0.5] * 784}).encode()
    status, answer = raw_request(url, request_bytes(good, kind="text/plain"))
    assert status == 415 and "expected application/json, got 'text/plain'" in answer["error"]
    status, answer = raw_request(url, request_bytes(
        good, kind="application/x-www-form-urlencoded"))
    assert status == 415
    port = url.rstrip("/").rsplit(":", 1)[1]
    status, answer = raw_request(url, request_bytes(good, host=f"evil.example:{port}"))
    assert status == 403 and "is not this machine" in answer["error"]
    status, answer = raw_request(url, f"GET / HTTP/1.1\r\nHost: evil.example:{port}\r\n"
                                      "Connection: close\r\n\r\n".encode())
    assert status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        status, _ = raw_request(url, request_bytes(good, host=host))
        assert status == 200, host


def test_it_binds_to_localhost_unless_told_otherwise(server):
    srv = make_server(server[0], port=0)
    try:
        assert srv.server_address[0] == "127.0.0.1"
    finally:
        srv.server_close()


def test_the_page_needs_nothing_from_the_internet(server):
    with urllib.request.urlopen(server[1], timeout=30) as r:
        html = r.read().decode()
    assert "<canvas" in html and "getUserMedia" in html
    assert "http://" not in html and "https://" not in html


def held_out_image(predictor, kaggle_csv_dir, tmp_path) -> tuple:
    """(a PNG of the test image the model gets right with the highest confidence, its
    letter)."""
    from zoo_plugins.sign_mnist import load

    ds = load(kaggle_csv_dir)
    _, model, _ = predictor.models["sign-mnist"][0]
    probs = np.asarray(model.predict_on_batch(ds.x_test))
    right = np.flatnonzero(probs.argmax(1) == ds.y_test)
    assert len(right), "the model classifies no test image correctly"
    best = right[np.argmax(probs[right].max(1))]
    image = tmp_path / "held-out.png"
    image.write_bytes(png.encode(np.round(ds.x_test[best] * 255).astype(np.uint8)))
    return image, ds.class_names[ds.y_test[best]]


@pytest.mark.browser
@pytest.mark.parametrize("example_delay", [0, 2])
def test_uploading_a_held_out_test_image_shows_its_letter_first(
        server, kaggle_csv_dir, tmp_path, monkeypatch, example_delay):
    """The page asks for a random example as it opens; an upload shows the upload's letter,
    also when the example's answer comes back later (delayed here): a late answer for an
    earlier picture is dropped, not shown."""
    predictor, url = server
    image, letter = held_out_image(predictor, kaggle_csv_dir, tmp_path)
    real = predictor.example

    def slow(*args, **kwargs):
        time.sleep(example_delay)
        return real(*args, **kwargs)

    monkeypatch.setattr(predictor, "example", slow)
    chrome = Chrome()
    try:
        chrome.goto(url)
        chrome.set_files("#upload", image)
        chrome.wait("document.body.dataset.source === 'upload' && "
                    "document.querySelector('#top-cnn li') !== null")
        time.sleep(example_delay + 1)   # the example's answer is back by now
        assert chrome.js("document.querySelector('#top-cnn li').dataset.class") == letter
        assert chrome.js("document.body.dataset.truth === undefined")
        assert chrome.js("document.getElementById('truth').hidden")
        assert chrome.js("document.getElementById('errors').textContent") == ""
        assert chrome.errors == []
    finally:
        chrome.close()


@pytest.mark.browser
def test_the_fake_camera_gets_live_predictions(server):
    chrome = Chrome("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
    try:
        chrome.goto(server[1] + "?camera=1")
        chrome.wait("Number(document.body.dataset.predictions) >= 5", timeout=60)
        assert chrome.js("document.body.dataset.source") == "camera"
        assert chrome.js("document.querySelectorAll('#top-cnn li').length") == 5
        assert chrome.js("document.getElementById('errors').textContent") == ""
        assert chrome.errors == []
    finally:
        chrome.close()


class LambdaModel:
    @zoo.hookimpl
    def register_models(self, register):
        def build(shape, n):
            import keras

            inputs = keras.Input(shape)
            x = keras.layers.Lambda(lambda t: t * 1.0)(keras.layers.Flatten()(inputs))
            return keras.Model(inputs, keras.layers.Dense(n, activation="softmax")(x))

        register(zoo.ModelSpec(name="lambda", build=build))


def test_kept_models_load_only_in_safe_mode(register_plugin, tmp_path):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    register_plugin(LambdaModel(), "lambda")
    train(tmp_path, "dense", "lambda", "--dataset", "tiny", "--folds", "2", "--epochs", "1",
          "--batch-size", "8")
    predictor = Predictor(tmp_path)
    assert predictor.datasets["tiny"]["models"] == ["dense"]
    first, second = predictor.skipped   # each fold's model tried, none loads
    assert first.startswith("tiny / lambda: cannot load") and "safely" in first
    assert first.endswith("; serving the next kept model") and "fold-02.keras" in second
    answer = predictor.predict("tiny", np.zeros(64))
    assert answer[0]["model"] == "dense" and len(answer[0]["top"]) == 3


@pytest.mark.slow
def test_a_damaged_kept_model_gives_way_to_the_next_one(register_plugin, tmp_path):
    """A damaged fold-01.keras once hid a good fold-02.keras."""
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    train(tmp_path, "dense", "--dataset", "tiny", "--folds", "2", "--epochs", "1",
          "--batch-size", "8")
    (damaged,) = tmp_path.rglob("dense/fold-01.keras")
    damaged.write_bytes(b"not a zip")
    predictor = Predictor(tmp_path)
    assert predictor.datasets["tiny"]["models"] == ["dense"]
    (said,) = predictor.skipped
    assert f"cannot load {damaged} safely" in said and "serving the next kept model" in said
    (_, _, path), = predictor.models["tiny"]
    assert path.name == "fold-02.keras"


def test_the_vit_round_trips_through_the_keras_format(tmp_path):
    from zoo.grid.modelio import load_model, model_bytes
    from zoo.plugins import get_registry

    spec = get_registry().models["vit"]
    model = spec.build((28, 28, 1), 24)
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    (tmp_path / "vit.keras").write_bytes(model_bytes(model))
    again = load_model(tmp_path / "vit.keras", custom_objects=spec.custom_objects())
    assert np.allclose(model.predict_on_batch(x), again.predict_on_batch(x), atol=1e-6)


def test_final_model_is_trained_on_everything_and_kept(register_plugin, tmp_path):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    train(tmp_path, "dense", "--dataset", "tiny", "--folds", "2", "--epochs", "1",
          "--batch-size", "8", "--keep-models", "final")
    finals = list(tmp_path.rglob("final.keras"))
    assert len(finals) == 1 and not list(tmp_path.rglob("fold-*.keras"))
    facts = json.loads(finals[0].with_suffix(".json").read_text())
    assert facts["train_samples"] == 36 and facts["status"] == "ok"
    assert Predictor(tmp_path).models["tiny"][0][2] == finals[0]


@pytest.mark.slow
def test_variants_of_a_model_with_custom_layers_are_served(register_plugin, tmp_path):
    """vit:depth=1 could not be loaded: its custom layers were looked up by the variant's
    name. Served beside the plain vit, both answer."""
    register_plugin(TinyPlugin(), "tiny")
    train(tmp_path, "vit", "vit:depth=1", "--dataset", "tiny", "--folds", "2", "--epochs", "1",
          "--batch-size", "8")
    predictor = Predictor(tmp_path)
    assert predictor.skipped == []
    assert [m for m, _, _ in predictor.models["tiny"]] == ["vit", "vit:depth=1"]
    answer = predictor.predict("tiny", np.zeros(64))
    assert [a["model"] for a in answer] == ["vit", "vit:depth=1"]


def test_bursts_of_concurrent_predictions_are_all_answered(server):
    """4 bursts of 50 concurrent POSTs lost 35 of 200 to connection resets (a listen backlog
    of 5)."""
    from concurrent.futures import ThreadPoolExecutor

    _, url = server
    body = json.dumps({"dataset": "sign-mnist", "pixels": [0.5] * 784}).encode()
    for _ in range(4):
        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(lambda _: post(url, body)[0], range(50)))
        assert statuses == [200] * 50


def test_idle_clients_are_timed_out_and_connections_are_capped(register_plugin, tmp_path):
    import socket
    import time

    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    train(tmp_path, "dense", "--dataset", "tiny", "--folds", "2", "--epochs", "1",
          "--batch-size", "8")
    srv, url = serve_in_thread(Predictor(tmp_path), timeout=0.5, max_connections=4)
    host, port = srv.server_address
    try:
        idle = [socket.create_connection((host, port)) for _ in range(12)]
        time.sleep(0.3)
        # past the cap: an immediate 503, not another thread
        over = [s.recv(200) for s in idle[4:]]
        assert all(b.startswith(b"HTTP/1.1 503") for b in over)
        time.sleep(0.6)   # the idle ones within the cap are closed after the timeout
        for s in idle[:4]:
            s.settimeout(2)
            assert s.recv(100) == b""   # closed by the server
        with urllib.request.urlopen(url + "api/info", timeout=5) as r:   # still serving
            assert r.status == 200
    finally:
        for s in idle:
            s.close()
        srv.shutdown()
        srv.server_close()


def test_serving_beyond_this_machine_is_said_out_loud(tmp_path):
    from zoo.show.serve import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    # no kept models here: zoo stops before listening anywhere, after the warning
    r = CliRunner().invoke(cli, ["serve", "--results", str(tmp_path), "--host", "0.0.0.0"])
    assert "warning: serving on 0.0.0.0, not only this machine: the models answer anyone " \
        "who can reach it" in r.output
    assert r.exit_code == 1


def test_a_random_test_image_with_its_true_class_through_the_api(server):
    predictor, url = server
    with urllib.request.urlopen(url + "api/example?dataset=sign-mnist&index=3",
                                timeout=30) as r:
        answer = json.loads(r.read())
    images, labels, source, fold = predictor.examples["sign-mnist"]
    assert source == "the official test split" and fold is None
    assert answer["source"] == source and answer["index"] == 3
    assert answer["label"] == predictor.datasets["sign-mnist"]["classes"][int(labels[3])]
    assert len(answer["pixels"]) == 28 * 28 and answer["shape"] == [28, 28, 1]
    for m in answer["models"]:
        assert len(m["top"]) == 5 and m["right"] == (m["top"][0][0] == answer["label"])
        assert m["seen"] is False   # no served model trained on the test split
    # the same image posted as pixels gets the same answer
    status, posted = post(url, json.dumps({"dataset": "sign-mnist",
                                           "pixels": answer["pixels"]}).encode())
    assert status == 200
    assert [m["top"][0][0] for m in posted["models"]] == \
        [m["top"][0][0] for m in answer["models"]]
    for bad, code in (("index=9999", 400), ("index=x", 400), ("dataset=nope", 404)):
        try:
            urllib.request.urlopen(url + "api/example?" + bad, timeout=30)
            raise AssertionError(bad)
        except urllib.error.HTTPError as e:
            assert e.code == code and "error" in json.loads(e.read())


def test_without_a_test_split_the_examples_come_from_a_held_out_fold(register_plugin,
                                                                    tmp_path):
    register_plugin(TinyPlugin(test_per_class=0), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    train(tmp_path, "dense", "--dataset", "tiny", "--folds", "2", "--epochs", "1",
          "--batch-size", "8")
    predictor = Predictor(tmp_path)
    answer = predictor.example("tiny", 0)
    assert answer["source"] == "held-out fold 1"
    assert answer["models"][0]["seen"] is False   # fold 1's model never trained on it


@pytest.mark.browser
def test_the_page_opens_on_a_real_test_image_with_right_and_wrong_marks(server):
    _, url = server
    chrome = Chrome()
    try:
        chrome.goto(url)
        chrome.wait("document.body.dataset.truth !== undefined")
        chrome.wait("document.body.dataset.predictions === '1'")
        said = "document.getElementById('count').parentNode.textContent"
        assert chrome.js(said).startswith("1 prediction,")   # not "1 predictions"
        truth = chrome.js("document.body.dataset.truth")
        assert chrome.js("document.getElementById('truth-label').textContent") == truth
        assert "of the official test split" in chrome.js(
            "document.getElementById('truth-source').textContent")
        marks = chrome.js("Array.from(document.querySelectorAll('.mark')).map(function (m) "
                          "{ return m.textContent; })")
        assert marks and all(m in ("✓ right", "✗ wrong") for m in marks)
        chrome.js("document.getElementById('example').click()")   # another one
        chrome.wait("document.body.dataset.predictions >= '2'")
        assert chrome.js(said).startswith("2 predictions,")
        assert chrome.errors == []
    finally:
        chrome.close()


def test_any_run_with_kept_models_is_served_and_the_page_switches_between_them(
        register_plugin, tmp_path):
    """Three runs one after another once left `zoo serve` refusing the earlier one. Now the
    newest run with kept models opens (or --run's), and every other one is listed, its
    models loaded when the page first asks for them."""
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(TinyModelPlugin(), "dense")
    common = ["dense", "--dataset", "tiny", "--folds", "2", "--epochs", "1", "--batch-size", "8"]
    train(tmp_path, *common, "--seed", "1")
    train(tmp_path, *common, "--seed", "2")
    train(tmp_path, *common, "--seed", "3", "--keep-models", "none")   # newest: none kept
    runs = zoo.runs(tmp_path)
    older, newer = runs[2].run_id, runs[1].run_id
    predictor = Predictor(tmp_path)
    assert list(predictor.datasets) == ["tiny", f"tiny @ {older}"]
    assert predictor.datasets["tiny"]["run_id"] == newer and "tiny" in predictor.models
    assert f"tiny @ {older}" not in predictor.models   # listed, not loaded yet
    answer = predictor.predict(f"tiny @ {older}", np.zeros(64))
    assert answer[0]["model"] == "dense" and f"tiny @ {older}" in predictor.models
    chosen = Predictor(tmp_path, run=older[:7])
    assert chosen.datasets["tiny"]["run_id"] == older
    srv, url = serve_in_thread(chosen)
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            html = r.read().decode()
        assert f"tiny (run {older}" in html and f"tiny (run {newer}" in html
    finally:
        srv.shutdown()
        srv.server_close()
    with pytest.raises(zoo.ZooError, match=f"--run: run {runs[0].run_id} .* kept no models"):
        Predictor(tmp_path, run=runs[0].run_id)
    out = CliRunner().invoke(cli, ["serve", "--run", "nope", "--results", str(tmp_path)])
    assert out.exit_code != 0 and "--run: no run 'nope'" in out.output
