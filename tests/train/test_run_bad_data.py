"""`fbtui run` on broken data: a clear message naming the culprit, exit 2, no run folder."""

import shutil

import pytest
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands
from fbtui.data import synthesize

load_commands()
runner = CliRunner()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("scut") / "SCUT-FBP5500_v2", n=40, seed=1, size=32)


@pytest.fixture
def scut(tmp_path, pristine):
    root = tmp_path / "SCUT-FBP5500_v2"
    shutil.copytree(pristine, root)
    return root


def run_on(tmp_path, tiny_toml, root):
    runs = tmp_path / "runs"
    res = runner.invoke(
        app,
        ["run", str(tiny_toml(epochs=1)), "--runs-dir", str(runs), "--set", f'data.root="{root}"'],
    )
    return res, runs


def assert_clean_failure(res, runs, *needles):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    for n in needles:
        assert n in res.output, (n, res.output)
    assert not runs.exists() or not any(runs.iterdir())


def _split_file(root):
    return next((root / "train_test_files").rglob("train.txt"))


def test_missing_data_folder(tmp_path, tiny_toml):
    res, runs = run_on(tmp_path, tiny_toml, tmp_path / "no_such_folder")
    assert_clean_failure(res, runs, "no_such_folder")


def test_xlsx_without_rating_column(tmp_path, tiny_toml, scut):
    xlsx = scut / "All_Ratings.xlsx"
    wb = load_workbook(xlsx)
    ws = wb[wb.sheetnames[0]]
    rows = [[c for c in r] for r in ws.iter_rows(values_only=True)]
    header = list(rows[0])
    k = header.index("Rating")
    new = Workbook()
    out = new.active
    out.title = ws.title
    for r in rows:
        out.append([c for i, c in enumerate(r) if i != k])
    new.save(xlsx)
    res, runs = run_on(tmp_path, tiny_toml, scut)
    assert_clean_failure(res, runs, "All_Ratings.xlsx", "Rating")


def test_image_listed_but_missing(tmp_path, tiny_toml, scut):
    victim = sorted((scut / "Images").iterdir())[3]
    victim.unlink()
    res, runs = run_on(tmp_path, tiny_toml, scut)
    assert_clean_failure(res, runs, victim.name)


def test_corrupt_jpeg(tmp_path, tiny_toml, scut):
    victim = sorted((scut / "Images").iterdir())[5]
    victim.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    res, runs = run_on(tmp_path, tiny_toml, scut)
    assert_clean_failure(res, runs, victim.name)


def test_corrupt_jpeg_skipped_with_skip_bad(tmp_path, tiny_toml, scut):
    victim = sorted((scut / "Images").iterdir())[5]
    victim.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    runs = tmp_path / "runs"
    res = runner.invoke(
        app,
        [
            "run",
            str(tiny_toml(epochs=1)),
            "--runs-dir",
            str(runs),
            "--set",
            f'data.root="{scut}"',
            "--set",
            "data.skip_bad=true",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "1 unreadable" in res.output or "skipped 1" in res.output, res.output


def test_split_names_unknown_image(tmp_path, tiny_toml, scut):
    split = _split_file(scut)
    split.write_text(split.read_text() + "AF99999.jpg 3.000000\n")
    res, runs = run_on(tmp_path, tiny_toml, scut)
    assert_clean_failure(res, runs, "AF99999.jpg", "train.txt")


def test_list_set_has_no_folds(tmp_path, tiny_toml, scut):
    """A list-format set (images + labels.txt) with data.split = "cv1": refused before
    training (it used to train a whole epoch on every image, then fail on an empty test
    set), and --folds likewise."""
    folder = tmp_path / "listset"
    folder.mkdir()
    lines = []
    for i, img in enumerate(sorted((scut / "Images").iterdir())[:30]):
        shutil.copy(img, folder / img.name)
        lines.append(f"{img.name} {1 + (i % 9) * 0.5:.2f}")
    (folder / "labels.txt").write_text("\n".join(lines) + "\n")
    runs = tmp_path / "runs"
    res = runner.invoke(
        app,
        ["run", str(tiny_toml(epochs=1)), "--runs-dir", str(runs)]
        + ["--set", f'data.root="{folder}"', "--set", 'data.format="list"']
        + ["--set", 'data.split="cv1"'],
    )
    assert_clean_failure(res, runs, 'data.split = "cv1"', "60/40")
    res = runner.invoke(
        app,
        ["run", str(tiny_toml(epochs=1)), "--runs-dir", str(runs), "--folds", "5"]
        + ["--set", f'data.root="{folder}"', "--set", 'data.format="list"'],
    )
    assert_clean_failure(res, runs, "cv1")
