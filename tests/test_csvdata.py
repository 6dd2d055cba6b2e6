"""Every CSV / npz validation error names file, line and problem."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zoo.csvdata import read_image_npz, read_label_pixel_csv
from zoo.errors import DataError

LABELS = [i for i in range(25) if i != 9]
HEADER = "label," + ",".join(f"pixel{i}" for i in range(1, 785))


def row(label=3, value=7, n=784):
    return ",".join([str(label)] + [str(value)] * n)


def write(tmp_path, text, name="data.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def error(path, **kw) -> DataError:
    with pytest.raises(DataError) as info:
        read_label_pixel_csv(path, labels=LABELS, **kw)
    assert str(path) in str(info.value)
    return info.value


def test_reads_crlf_file(tmp_path):
    path = write(tmp_path, HEADER + "\r\n" + row(0, 1) + "\r\n" + row(24, 255) + "\r\n")
    x, y = read_label_pixel_csv(path, labels=LABELS)
    assert x.shape == (2, 28, 28) and x.dtype == np.uint8
    assert y.tolist() == [0, 24]
    assert x[1].max() == 255


def test_reads_lf_file_with_bom_and_no_final_newline(tmp_path):
    path = write(tmp_path, "\ufeff" + HEADER + "\n" + row(5, 2) + "\n" + row(6, 3))
    x, y = read_label_pixel_csv(path, labels=LABELS)
    assert y.tolist() == [5, 6] and x[0, 0, 0] == 2 and x[1, 27, 27] == 3


def test_missing_file(tmp_path):
    assert "file not found" in str(error(tmp_path / "nope.csv"))


def test_empty_file(tmp_path):
    e = error(write(tmp_path, ""))
    assert "empty" in e.problem and e.line == 1


def test_wrong_header(tmp_path):
    e = error(write(tmp_path, HEADER.replace("pixel5,", "pixelX,") + "\n" + row() + "\n"))
    assert e.line == 1 and "header column 6 is 'pixelX'; expected 'pixel5'" in e.problem


def test_missing_header(tmp_path):
    e = error(write(tmp_path, row() + "\n" + row() + "\n"))
    assert e.line == 1 and "missing header" in e.problem


def test_wrong_column_count(tmp_path):
    e = error(write(tmp_path, HEADER + "\n" + row() + "\n" + row(n=783) + "\n" + row() + "\n"))
    assert e.line == 3 and "found 784 columns; expected 785" in e.problem


def test_non_numeric_cell(tmp_path):
    bad = row().split(",")
    bad[10] = "abc"
    e = error(write(tmp_path, HEADER + "\n" + row() + "\n" + ",".join(bad) + "\n"))
    assert e.line == 3 and "pixel10 is 'abc'; expected an integer" in e.problem


def test_float_cell_is_not_an_integer(tmp_path):
    bad = row().split(",")
    bad[1] = "1.5"
    e = error(write(tmp_path, HEADER + "\n" + ",".join(bad) + "\n"))
    assert e.line == 2 and "pixel1" in e.problem


def test_pixel_out_of_range(tmp_path):
    bad = row().split(",")
    bad[784] = "256"
    e = error(write(tmp_path, HEADER + "\n" + row() + "\n" + row() + "\n" + ",".join(bad) + "\n"))
    assert e.line == 4 and "pixel784 is 256; expected an integer 0-255" in e.problem


def test_negative_pixel(tmp_path):
    bad = row().split(",")
    bad[3] = "-1"
    e = error(write(tmp_path, HEADER + "\n" + ",".join(bad) + "\n"))
    assert e.line == 2 and "pixel3 is -1" in e.problem


@pytest.mark.parametrize("column, cell", [(784, "9" * 25), (0, "1" + "0" * 400)])
def test_a_cell_too_large_for_int64_names_its_line(tmp_path, column, cell):
    bad = row().split(",")
    bad[column] = cell
    e = error(write(tmp_path, HEADER + "\n" + row() + "\n" + ",".join(bad) + "\n"))
    name = "label" if column == 0 else f"pixel{column}"
    assert e.line == 3 and f"{name} is " in e.problem and "too large" in e.problem
    assert len(str(e)) < 300  # a 400-digit cell is shortened, not printed whole


def test_unknown_label(tmp_path):
    e = error(write(tmp_path, HEADER + "\n" + row(3) + "\n" + row(9) + "\n"))
    assert e.line == 3 and "unknown label 9" in e.problem


def test_truncated_last_line(tmp_path):
    e = error(write(tmp_path, HEADER + "\r\n" + row() + "\r\n" + row()[:900]))
    assert e.line == 3 and "truncated" in e.problem


def test_blank_line_in_the_middle(tmp_path):
    e = error(write(tmp_path, HEADER + "\n" + row() + "\n\n" + row() + "\n"))
    assert e.line == 3 and "empty line" in e.problem


def test_header_only(tmp_path):
    e = error(write(tmp_path, HEADER + "\n"))
    assert "no data rows" in e.problem


def test_not_utf8(tmp_path):
    e = error(write(tmp_path, (HEADER + "\n").encode() + b"\xff\xfe,1\n"))
    assert e.line == 2 and "UTF-8" in e.problem


def test_error_message_is_one_line(tmp_path):
    e = error(write(tmp_path, HEADER + "\n" + row(n=10) + "\n"))
    assert "\n" not in str(e)
    assert str(e).startswith(f"{tmp_path / 'data.csv'}, line 2: ")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | st.builds(lambda tail: (HEADER[:40] + tail).encode(), st.text(max_size=60)))
def test_arbitrary_bytes_load_or_raise_data_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    try:
        x, y = read_label_pixel_csv(path, height=1, width=2, labels=range(10))
    except DataError:
        return
    assert x.ndim == 3 and len(x) == len(y)


@given(rows=st.lists(st.tuples(st.integers(0, 9), st.integers(0, 255), st.integers(0, 255)),
                     min_size=1, max_size=20), crlf=st.booleans())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_valid_tables_round_trip(tmp_path, rows, crlf):
    end = "\r\n" if crlf else "\n"
    text = "label,pixel1,pixel2" + end + end.join(",".join(map(str, r)) for r in rows) + end
    path = tmp_path / "ok.csv"
    path.write_text(text, newline="")
    x, y = read_label_pixel_csv(path, height=1, width=2, labels=range(10))
    assert y.tolist() == [r[0] for r in rows]
    assert x.reshape(len(rows), 2).tolist() == [[r[1], r[2]] for r in rows]


def npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return path


def good_arrays():
    return dict(x_train=np.zeros((4, 28, 28), np.uint8), y_train=np.array([0, 1, 2, 3]),
                x_test=np.zeros((2, 784), np.uint8), y_test=np.array([0, 1]))


def test_npz_loads_and_reshapes(tmp_path):
    out = read_image_npz(npz(tmp_path, **good_arrays()), labels=LABELS)
    assert out["x_test"].shape == (2, 28, 28)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("y_test"), "missing array(s) y_test"),
    (lambda a: a.update(x_train=np.zeros((4, 27, 28))), "x_train has shape (4, 27, 28)"),
    (lambda a: a.update(y_train=np.zeros(3, int)), "y_train has shape (3,); expected (4,)"),
    (lambda a: a.update(y_train=np.zeros(4)), "y_train has dtype float64; expected integers"),
    (lambda a: a.update(x_test=np.full((2, 784), 300)), "x_test has values outside 0-255"),
    (lambda a: a.update(y_test=np.array([0, 9])), "y_test has unknown label(s) [9]"),
])
def test_npz_errors(tmp_path, change, message):
    arrays = good_arrays()
    change(arrays)
    path = npz(tmp_path, **arrays)
    with pytest.raises(DataError) as info:
        read_image_npz(path, labels=LABELS)
    assert message in str(info.value) and str(path) in str(info.value)


def test_npz_floats_already_scaled_are_refused_not_divided_again(tmp_path):
    arrays = good_arrays()
    arrays["x_train"] = np.full((4, 28, 28), 0.5, np.float32)
    path = npz(tmp_path, **arrays)
    with pytest.raises(DataError, match=r"x_train holds fractional values \(0.5 to 0.5; "
                                        r"already scaled to \[0, 1\]\?\)"):
        read_image_npz(path, labels=LABELS)


def test_npz_floats_with_whole_values_are_read_as_pixels(tmp_path):
    arrays = good_arrays()
    arrays["x_train"] = np.full((4, 28, 28), 255.0)
    out = read_image_npz(npz(tmp_path, **arrays), labels=LABELS)
    assert out["x_train"].max() == 255


def test_npz_not_an_archive(tmp_path):
    path = write(tmp_path, "hello", name="d.npz")
    with pytest.raises(DataError, match="not a readable .npz"):
        read_image_npz(path)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    arrays = good_arrays()
    arrays["y_test"] = np.array([0, {"x": 1}], dtype=object)
    path = npz(tmp_path, **arrays)
    with pytest.raises(DataError, match="Python objects"):
        read_image_npz(path)
