"""`check_dataset` and the `fbtui data` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import fbtui.cli.data_cmd  # noqa: F401 - registers the data commands
from fbtui.cli.app import app
from fbtui.data import check_dataset
from fbtui.data.check import rater_ceiling

from .conftest import write_xlsx

runner = CliRunner()


def test_report_fields_on_a_clean_set(scut):
    rep = check_dataset(scut.root)
    assert rep.ok, rep.problems
    d = rep.to_dict()
    assert d["ok"] is True and d["problems"] == [] and d["synthetic"] is False
    assert rep.images == rep.records == 20
    assert rep.groups == {"AF": 6, "AM": 6, "CF": 4, "CM": 4}
    assert rep.raters == 60 and rep.raters_per_image == {"min": 60, "max": 60}
    assert rep.reratings == 5
    assert rep.images_without_ratings == [] and rep.ratings_without_images == []
    assert rep.splits["60/40"] == {
        "train": 12,
        "test": 8,
        "overlap": 0,
        "test_groups": rep.splits["60/40"]["test_groups"],
    }
    assert sum(rep.splits["60/40"]["test_groups"].values()) == 8
    assert all(rep.splits[f"cv{k}"]["overlap"] == 0 for k in range(1, 6))
    assert rep.cv["test_folds_disjoint"] and rep.cv["test_folds_cover_all"]
    assert rep.score["min"] <= rep.score["mean"] <= rep.score["max"]
    assert rep.score["mean"] == pytest.approx(scut.ratings.mean())
    assert rep.unreadable == [] and rep.score_disagreements == []
    assert rep.rater_ceiling is not None and 0.5 < rep.rater_ceiling <= 1.0
    json.dumps(d)  # serialisable


def test_rater_ceiling_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    n, raters = 300, 60
    latent = rng.normal(3, 0.6, n)
    ratings = latent[:, None] + rng.normal(0, 0.8, (n, raters))
    image = np.repeat(np.arange(n), raters)
    rater = np.tile(np.arange(raters), n)
    got, _ = rater_ceiling(image, rater, ratings.ravel(), n, halvings=5)
    # split-half reliability for 30 raters each: var_l / (var_l + var_e / 30)
    expected = 0.36 / (0.36 + 0.64 / 30)
    assert got == pytest.approx(expected, abs=0.03)


def test_problems_and_warnings(scut):
    root = scut.root
    # a test image also in train, a missing rating, a disagreeing score, an unrated image
    tr = scut.split_file() / "train.txt"
    te_first = (scut.split_file() / "test.txt").read_text().splitlines()[0]
    tr.write_text(tr.read_text() + te_first + "\n")
    lines = (root / "train_test_files" / "All_labels.txt").read_text().splitlines()
    name0 = lines[0].split()[0]
    lines[0] = f"{name0} 4.999"
    (root / "train_test_files" / "All_labels.txt").write_text("\n".join(lines) + "\n")
    rows = [["Rater", "Filename", "Rating", "original Rating"]]
    for r in range(60):
        for i, n in enumerate(scut.names):
            if not (r == 0 and n == "CM1.jpg"):
                rows.append([r + 1, n, int(scut.ratings[i, r]), None])
    write_xlsx(root / "All_Ratings.xlsx", rows)
    (root / "Images" / "AF99.jpg").write_bytes((root / "Images" / "AF1.jpg").read_bytes())
    rep = check_dataset(root)
    assert not rep.ok
    assert any("split 60/40" in p and "both train and test" in p for p in rep.problems)
    assert rep.splits["60/40"]["overlap"] == 1
    assert rep.raters_per_image == {"min": 59, "max": 60}
    assert rep.images_with_wrong_rater_count == ["CM1.jpg: 59"]
    assert rep.images_without_ratings == ["AF99.jpg"]
    d = {(x["name"], x["where"].rsplit("/", 1)[-1]): x for x in rep.score_disagreements}
    assert d[(name0, "All_labels.txt:1")]["file_score"] == 4.999
    assert any("do not have 60 raters" in w for w in rep.warnings)


def test_cv_folds_must_be_disjoint_and_cover(scut):
    cv = scut.root / "train_test_files" / "5_folders_cross_validations_files"
    t1 = cv / "cross_validation_1" / "test_1.txt"
    t2 = cv / "cross_validation_2" / "test_2.txt"
    t2.write_text(t2.read_text() + t1.read_text().splitlines()[0] + "\n")  # tested twice
    t3 = cv / "cross_validation_3" / "test_3.txt"
    t3.write_text("\n".join(t3.read_text().splitlines()[1:]) + "\n")  # one image in no fold
    rep = check_dataset(scut.root)
    assert rep.cv["test_folds_disjoint"] is False and rep.cv["test_folds_cover_all"] is False
    assert any("test folds overlap" in p for p in rep.problems)
    assert any("in no test fold" in p for p in rep.problems)


def test_unreadable_images_are_listed(scut):
    (scut.root / "Images" / "AF2.jpg").write_bytes(b"garbage")
    good = (scut.root / "Images" / "AM2.jpg").read_bytes()
    (scut.root / "Images" / "AM2.jpg").write_bytes(good[: len(good) // 2])  # truncated
    rep = check_dataset(scut.root)
    names = {u["name"] for u in rep.unreadable}
    assert names == {"AF2.jpg", "AM2.jpg"}
    assert any("2 unreadable image(s)" in p for p in rep.problems)


def test_fatal_errors_become_problems(tmp_path):
    rep = check_dataset(tmp_path / "missing")
    assert not rep.ok and "data folder not found" in rep.problems[0]


# ---------------------------------------------------------------- CLI


def test_cli_check_ok_and_json(scut):
    res = runner.invoke(app, ["data", "check", str(scut.root)])
    assert res.exit_code == 0, res.output
    assert "rater ceiling" in res.output
    res = runner.invoke(app, ["data", "check", str(scut.root), "--json"])
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert d["ok"] and d["records"] == 20 and d["rater_ceiling"] > 0.5


def test_cli_check_broken_exits_2(scut, tmp_path):
    res = runner.invoke(app, ["data", "check", str(tmp_path / "nowhere")])
    assert res.exit_code == 2
    assert "data folder not found" in res.output
    assert "Traceback" not in res.output
    (scut.root / "Images" / "CF1.jpg").unlink()
    res = runner.invoke(app, ["data", "check", str(scut.root)])
    assert res.exit_code == 2 and "CF1.jpg" in res.output


def test_cli_check_list_format(tmp_path):
    from .conftest import write_jpg

    for i in range(5):
        write_jpg(tmp_path / f"f{i}.jpg", seed=i)
    (tmp_path / "labels.txt").write_text("".join(f"f{i}.jpg {i + 1}\n" for i in range(5)))
    res = runner.invoke(app, ["data", "check", str(tmp_path), "--format", "list", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["records"] == 5 and d["rater_ceiling"] is None and d["splits"]["60/40"]["overlap"] == 0


def test_cli_synth_then_check(tmp_path):
    out = tmp_path / "syn"
    res = runner.invoke(
        app, ["data", "synth", str(out), "--n", "40", "--seed", "3", "--size", "32"]
    )
    assert res.exit_code == 0, res.output
    assert (out / "Images" / "AF1.jpg").is_file() and (out / "All_Ratings.xlsx").is_file()
    res = runner.invoke(app, ["data", "check", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["records"] == 40
    res = runner.invoke(app, ["data", "synth", str(out)])  # refuses to overwrite
    assert res.exit_code == 2 and "already exists" in res.output


def _no_rating(fx):
    write_xlsx(fx.root / "All_Ratings.xlsx", [["Rater", "Filename", "Score"], [1, "AF1.jpg", 3]])
    return "All_Ratings.xlsx"


def _unknown_in_split(fx):
    f = fx.split_file() / "train.txt"
    f.write_text("XX1.jpg 3.0\n" + f.read_text())
    return "train.txt:1"


def _corrupt(fx):
    (fx.root / "Images" / "CM2.jpg").write_bytes(b"nope")
    return "CM2.jpg"


def _unknown_image_in_xlsx(fx):
    rows = [["Rater", "Filename", "Rating"]] + [
        [r, n, 3] for r in range(1, 61) for n in fx.names + ["AF50.jpg"]
    ]
    write_xlsx(fx.root / "All_Ratings.xlsx", rows, writer="fast")
    return "AF50.jpg"


@pytest.mark.parametrize(
    "breaker", [_no_rating, _unknown_in_split, _corrupt, _unknown_image_in_xlsx]
)
def test_cli_check_names_what_is_broken(scut, breaker):
    needle = breaker(scut)
    res = runner.invoke(app, ["data", "check", str(scut.root)])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["data", "check", str(scut.root), "--json"])
    assert res.exit_code == 2
    d = json.loads(res.stdout)
    assert not d["ok"] and any(needle in p for p in d["problems"])


def test_data_check_never_imports_torch(scut):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "import fbtui.cli.data_cmd\n"
        "from fbtui.cli.app import app\n"
        f"r = CliRunner().invoke(app, ['data', 'check', {str(scut.root)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'pandas') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
