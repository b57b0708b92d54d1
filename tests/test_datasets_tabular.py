"""Tables from R's mlbench (Debian's r-cran-mlbench), read with rdata; tested on .rda files written here."""

import numpy as np
import pandas as pd
import pytest

from autoal.data.datasets import TABULAR_DATASETS, build_tabular, load_tabular
from autoal.errors import InputError


def write_rda(folder, stem, frame):
    import rdata

    folder.mkdir(parents=True, exist_ok=True)
    rdata.write_rda(str(folder / f"{stem}.rda"), {stem: frame})


def satellite_like(n=12):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x.{k}": rng.integers(30, 120, n).astype(float) for k in range(1, 5)})
    frame["classes"] = pd.Categorical(rng.choice(["red soil", "grey soil", "cotton crop"], n))
    return frame


def test_satellite_table_has_a_label_and_float_columns(tmp_path):
    frame = satellite_like()
    write_rda(tmp_path, "Satellite", frame)
    table = load_tabular("satellite", source=tmp_path)
    assert list(table.columns) == ["label", "x.1", "x.2", "x.3", "x.4"]
    assert all(isinstance(c, str) and type(c) is str for c in table.columns), "plain str names (not numpy strings)"
    assert table["label"].tolist() == frame["classes"].astype(str).tolist()
    assert (table.dtypes.iloc[1:] == np.float64).all()
    np.testing.assert_array_equal(table["x.3"], frame["x.3"])


def test_build_tabular_writes_a_csv_for_the_cli(tmp_path):
    write_rda(tmp_path / "mlbench", "Satellite", satellite_like())
    path = build_tabular("satellite", tmp_path / "data", source=tmp_path / "mlbench")
    assert path == tmp_path / "data" / "satellite" / "data.csv"
    assert pd.read_csv(path).shape == (12, 5)
    assert build_tabular("satellite", tmp_path / "data", source=tmp_path / "nowhere") == path, "second call: no read"


def test_a_missing_file_says_which_package_ships_it(tmp_path):
    with pytest.raises(InputError, match=r"Satellite not found in .*apt-get install --no-install-recommends r-cran-mlbench"):
        load_tabular("satellite", source=tmp_path)
    with pytest.raises(InputError, match="tabular dataset must be one of 'satellite', 'letter'.*, got 'wine'"):
        load_tabular("wine")
    assert set(TABULAR_DATASETS) == {"satellite", "letter"}
