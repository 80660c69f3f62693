"""oscdyn.sysid data: IOData, the loaders (.nc, .csv, .npz, Silverbox .mat) and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oscdyn.sysid import DataError, IOData, load, load_csv, load_npz, load_silverbox

SILVERBOX_NPZ = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "silverbox" / ("silverbox_train.npz")
)


def record(samples: int = 100, inputs: int = 1, outputs: int = 1) -> IOData:
    rng = np.random.default_rng(0)
    return IOData(
        rng.standard_normal((samples, inputs)),
        rng.standard_normal((samples, outputs)),
        0.01,
        name="test",
    )


def test_iodata_holds_an_xarray_dataset_with_channels_and_time() -> None:
    data = IOData(np.arange(5.0), np.arange(5.0) * 2, 0.5, name="r", t0=1.0)
    ds = data.dataset
    assert ds["u"].dims == ("time", "input") and ds["y"].dims == ("time", "output")
    np.testing.assert_allclose(ds["time"].values, [1.0, 1.5, 2.0, 2.5, 3.0])
    assert data.dt == 0.5 and len(data) == 5 and data.n_inputs == 1 and data.n_outputs == 1
    assert data.input_names == ["u"] and data.output_names == ["y"]
    several = record(50, inputs=2, outputs=3)
    assert several.u.shape == (50, 2) and several.y.shape == (50, 3)
    assert several.input_names == ["u0", "u1"] and several.output_names == ["y0", "y1", "y2"]


def test_slicing_and_splitting_keep_dt_and_samples() -> None:
    data = record(100)
    head, tail = data.split(0.75)
    assert (len(head), len(tail)) == (75, 25)
    np.testing.assert_array_equal(tail.u, data.u[75:])
    assert tail.dt == data.dt and tail.time[0] == pytest.approx(75 * data.dt)
    first, rest = data.split_at(10)
    assert len(first) == 10 and len(rest) == 90
    assert len(data.head(7)) == 7 and np.array_equal(data.tail(3).y, data.y[-3:])
    assert data[20:30].with_init_window(5).init_window == 5
    with pytest.raises(DataError, match="step 1"):
        data[::2]
    with pytest.raises(DataError, match="fraction"):
        data.split(1.5)


@pytest.mark.parametrize(
    ("u", "y", "dt", "message"),
    [
        (np.ones(10), np.ones(9), 0.1, "same number of samples"),
        (np.r_[np.ones(9), np.nan], np.ones(10), 0.1, "NaN"),
        (np.ones(10), np.r_[np.ones(9), np.inf], 0.1, "NaN or infinite"),
        (np.ones(10), np.ones(10), 0.0, "dt must be positive"),
        (np.ones(10), np.ones(10), -1.0, "dt must be positive"),
        (np.ones((10, 2, 2)), np.ones(10), 0.1, "1-D"),
    ],
)
def test_iodata_rejects_bad_records(u: np.ndarray, y: np.ndarray, dt: float, message: str) -> None:
    with pytest.raises(DataError, match=message):
        IOData(u, y, dt)


def test_netcdf_round_trip(tmp_path: Path) -> None:
    data = record(40, inputs=2, outputs=1).with_init_window(5)
    path = data.to_netcdf(tmp_path / "r.nc")
    back = load(path)
    np.testing.assert_array_equal(back.u, data.u)
    np.testing.assert_array_equal(back.y, data.y)
    assert back.dt == data.dt and back.init_window == 5 and back.input_names == ["u0", "u1"]
    assert [p.name for p in tmp_path.iterdir()] == ["r.nc"]  # no temporary file left


def test_csv_with_named_columns_and_time(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    t = np.arange(6) * 0.25
    rows = ["time,force,pos,other"] + [f"{a},{2 * a},{3 * a},9" for a in t]
    path.write_text("\n".join(rows) + "\n")
    data = load(path, inputs="force", outputs=["pos"])
    assert data.dt == pytest.approx(0.25) and data.input_names == ["force"]
    np.testing.assert_allclose(data.y[:, 0], 3 * t)
    with pytest.raises(DataError, match=r"missing column\(s\) \['speed'\]"):
        load_csv(path, inputs="force", outputs="speed")
    no_time = tmp_path / "no_time.csv"
    no_time.write_text("u,y\n1,2\n3,4\n")
    with pytest.raises(DataError, match="pass dt="):
        load_csv(no_time)
    assert load_csv(no_time, dt=0.1).dt == 0.1
    holes = tmp_path / "holes.csv"
    holes.write_text("u,y\n1,2\n3,\n")
    with pytest.raises(DataError, match="NaN"):
        load_csv(holes, dt=0.1)
    uneven = tmp_path / "uneven.csv"
    uneven.write_text("time,u,y\n0,1,2\n1,1,2\n3,1,2\n")
    with pytest.raises(DataError, match="uniformly"):
        load_csv(uneven)


def test_npz_loader_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "r.npz"
    np.savez(path, u=np.ones(20), y=np.arange(20.0), dt=np.array(0.5))
    data = load(path)
    assert len(data) == 20 and data.dt == 0.5
    np.savez(tmp_path / "no_y.npz", u=np.ones(20), dt=np.array(0.5))
    with pytest.raises(DataError, match=r"missing array\(s\) \['y'\]"):
        load_npz(tmp_path / "no_y.npz")
    np.savez(tmp_path / "short.npz", u=np.ones(20), y=np.ones(19), dt=np.array(0.5))
    with pytest.raises(DataError, match="short.npz.*same number of samples"):
        load(tmp_path / "short.npz")
    np.savez(tmp_path / "zero_dt.npz", u=np.ones(20), y=np.ones(20), dt=np.array(0.0))
    with pytest.raises(DataError, match="dt must be positive"):
        load(tmp_path / "zero_dt.npz")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.npz")
    with pytest.raises(DataError, match="unknown data format"):
        load(tmp_path / "r.txt")


def test_silverbox_mat_official_splits(tmp_path: Path) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    samples = 131072  # the length of SNLS80mV.mat
    v1 = np.arange(samples, dtype=np.float64)
    v2 = -v1
    path = tmp_path / "SNLS80mV.mat"
    scipy_io.savemat(path, {"V1": v1[None], "V2": v2[None]})
    splits = load_silverbox(path)
    assert len(splits.train) == 65062 and splits.train.u[0, 0] == 40650
    assert len(splits.test_multisine) == 21688 and splits.test_multisine.u[-1, 0] == 127399
    assert len(splits.test_arrow_full) == 40475 and splits.test_arrow_full.u[0, 0] == 100
    assert len(splits.test_arrow_no_extrapolation) == 32000
    assert splits.test_multisine.init_window == 50 and splits.train.init_window == 0
    assert splits.train.dt == pytest.approx(1 / 610.35)
    np.testing.assert_array_equal(splits.train.y, -splits.train.u)
    assert len(load(path, split="test_arrow_full")) == 40475
    scipy_io.savemat(tmp_path / "bad.mat", {"V1": v1[None]})
    with pytest.raises(DataError, match=r"missing variable\(s\) \['V2'\]"):
        load_silverbox(tmp_path / "bad.mat")


@pytest.mark.skipif(
    not SILVERBOX_NPZ.is_file(), reason=f"Silverbox training file absent ({SILVERBOX_NPZ})"
)
def test_silverbox_training_file_loads() -> None:
    data = load(SILVERBOX_NPZ)
    assert len(data) == 65062
    assert data.dt == pytest.approx(1 / 610.35)
    assert 0.04 < data.y.std() < 0.07  # volts: about 55 mV


def test_netcdf_without_dt_attribute_takes_the_time_axis(tmp_path: Path) -> None:
    import xarray as xr

    from oscdyn.io import write_netcdf

    time = 2.0 + 0.1 * np.arange(30)
    dataset = xr.Dataset(
        {"u": ("time", np.sin(time)), "y": ("time", np.cos(time)), "noise": ("time", time)},
        coords={"time": time},
    )
    path = write_netcdf(dataset, tmp_path / "plain.nc")
    data = load(path)
    assert data.dt == pytest.approx(0.1) and data.time[0] == pytest.approx(2.0)
    assert "noise" in data.dataset and len(data[5:10].dataset["noise"]) == 5
    write_netcdf(dataset.drop_vars("u"), tmp_path / "no_u.nc")
    with pytest.raises(DataError, match="no variable 'u'"):
        load(tmp_path / "no_u.nc")
