"""`fbtui predict` and `fbtui beautify` on a tiny model trained once per session."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fbtui.cli.main import app, load_commands

load_commands()
runner = CliRunner()

RUN_TOML = """
[experiment]
name = "{name}"
seed = 0

[data]
root = "synthetic"
synth_n = 200
synth_size = 32
image_size = 32
resize = {resize}

[model]
backbone = "tiny"
width = 8
head = "{head}"
clip = "{clip}"

[train]
epochs = {epochs}
batch_size = 16
optimizer = "adam"
lr = 0.003
device = "cpu"
"""


def _config(tmp: Path, name: str, head="regression", clip="sigmoid", resize=0, epochs=2):
    clip = clip if head == "regression" else "none"  # a clip is for the regression head
    from fbtui.config import load_config

    p = tmp / f"{name}.toml"
    p.write_text(RUN_TOML.format(name=name, head=head, clip=clip, resize=resize, epochs=epochs))
    return load_config(p)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny 32 px models: threads only add contention (several times slower on a busy
    2-core machine)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Path:
    """A runs root with `sig` (trained 2 epochs, sigmoid-clipped regression head) and two
    untrained runs whose random weights are enough for shapes: `dist` (distribution head)
    and `crop` (resize 40 -> centre crop 32, so the frame is larger than the model input)."""
    import torch

    from fbtui.cli.run_cmd import create_run
    from fbtui.model import build_model
    from fbtui.train.trainer import train_run

    tmp = tmp_path_factory.mktemp("tools")
    root = tmp / "runs"
    run = create_run(_config(tmp, "sig"), root)
    assert train_run(run) == "finished"
    for name, kw in (("dist", {"head": "distribution"}), ("crop", {"resize": 40})):
        cfg = _config(tmp, name, **kw)
        d = create_run(cfg, root)
        torch.manual_seed(1)
        torch.save({"model": build_model(cfg.model).state_dict()}, d / "checkpoints/best.pt")
    return root


def run_dir(root: Path, stem: str) -> Path:
    (d,) = [p for p in root.iterdir() if p.name.startswith(stem + "-")]
    return d


def cli(root: Path, *args: str):
    return runner.invoke(app, [*args, "--runs-dir", str(root)])


def predict_json(root: Path, run: str, *files, extra=()) -> dict:
    res = cli(root, "predict", run, *map(str, files), "--json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


# -- odd inputs ----------------------------------------------------------------------------


def _face(size=(48, 64)) -> Image.Image:
    """A non-symmetric test picture (so a rotation changes the score)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([xx * 255 // w, yy * 255 // h, (xx * yy) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(a)


@pytest.fixture(scope="module")
def odd_images(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("odd")
    base = _face()
    files = {}

    def save(name, img, **kw):
        files[name] = d / name
        img.save(files[name], **kw)

    rgba = base.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.full((64, 48), 128, np.uint8)))
    save("rgba.png", rgba)
    save("gray.png", base.convert("L"))
    save("cmyk.jpg", base.convert("CMYK"))
    save("palette.gif", base.convert("P"))
    upright = base.rotate(90, expand=True)  # 64x48
    save("upright.png", upright)
    # stored turned 90° counter-clockwise, with EXIF orientation 6 ("turn 90° clockwise")
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif6.png", upright.rotate(90, expand=True), exif=exif.tobytes())
    save("exif6.jpg", upright.rotate(90, expand=True), exif=exif.tobytes())
    save("one.png", Image.new("RGB", (1, 1), (200, 150, 120)))
    save("huge.jpg", base.resize((4000, 3000)), quality=80)
    save("web.webp", base)
    files["corrupt.jpg"] = d / "corrupt.jpg"
    files["corrupt.jpg"].write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return files


def test_predict_odd_inputs_score_finite_and_clipped(runs, odd_images):
    names = [n for n in odd_images if n != "corrupt.jpg"]
    doc = predict_json(runs, "sig", *(odd_images[n] for n in names))
    assert doc["head"] == "regression" and doc["device"] == "cpu"
    by = {Path(r["file"]).name: r for r in doc["results"]}
    assert set(by) == set(names)
    for n, r in by.items():
        assert "error" not in r, (n, r)
        assert math.isfinite(r["score"]) and 1.0 <= r["score"] <= 5.0, (n, r)
    assert (by["huge.jpg"]["width"], by["huge.jpg"]["height"]) == (4000, 3000)
    # the EXIF rotation is applied: same pixels upright as the upright copy
    for n in ("exif6.png", "exif6.jpg"):
        assert (by[n]["width"], by[n]["height"]) == (64, 48), n
    assert by["exif6.png"]["score"] == pytest.approx(by["upright.png"]["score"], abs=1e-6)


def test_predict_skips_corrupt_file_with_message(runs, odd_images):
    res = cli(runs, "predict", "sig", str(odd_images["corrupt.jpg"]), str(odd_images["gray.png"]))
    assert res.exit_code == 0, res.output
    assert "skipped" in res.stderr and "corrupt.jpg" in res.stderr
    assert "gray.png" in res.stdout


def test_predict_exit_2_when_nothing_scored(runs, odd_images, tmp_path):
    missing = tmp_path / "nope.jpg"
    res = cli(runs, "predict", "sig", str(odd_images["corrupt.jpg"]), str(missing))
    assert res.exit_code == 2
    assert "nothing could be scored" in res.stderr
    assert "nope.jpg" in res.stderr and "corrupt.jpg" in res.stderr
    assert "Traceback" not in res.output


def test_predict_a_folder_scores_the_images_in_it(runs, odd_images, tmp_path):
    folder = odd_images["gray.png"].parent  # every odd image, the corrupt one skipped
    doc = predict_json(runs, "sig", folder)
    names = sorted(Path(r["file"]).name for r in doc["results"])
    assert names == sorted(odd_images)
    assert [r for r in doc["results"] if "error" in r][0]["file"].endswith("corrupt.jpg")
    (tmp_path / "empty").mkdir()
    res = cli(runs, "predict", "sig", str(tmp_path / "empty"))
    assert res.exit_code == 2 and "a folder without image files" in res.stderr


def test_predict_json_shape(runs, odd_images):
    doc = predict_json(runs, "sig", odd_images["gray.png"], odd_images["corrupt.jpg"])
    assert set(doc) == {"run", "checkpoint", "head", "device", "detect", "results"}
    assert doc["checkpoint"].endswith("best.pt") and doc["detect"] is False
    ok, bad = doc["results"]
    assert set(ok) == {"file", "width", "height", "score"}
    assert set(bad) == {"file", "error"}


def test_predict_distribution_head_prints_distribution_and_std(runs, odd_images):
    doc = predict_json(runs, "dist", odd_images["gray.png"])
    (r,) = doc["results"]
    assert len(r["distribution"]) == 5 and sum(r["distribution"]) == pytest.approx(1, abs=1e-5)
    expect = sum((i + 1) * p for i, p in enumerate(r["distribution"]))
    assert r["score"] == pytest.approx(expect, abs=1e-5)
    var = sum(p * (i + 1 - expect) ** 2 for i, p in enumerate(r["distribution"]))
    assert r["std"] == pytest.approx(math.sqrt(var), abs=1e-4)
    res = cli(runs, "predict", "dist", str(odd_images["gray.png"]))
    assert res.exit_code == 0 and "p(1..5)" in res.stdout and "std" in res.stdout


# -- face detection ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    from skimage import data

    d = tmp_path_factory.mktemp("photos")
    out = {}
    for name in ("astronaut", "brick"):
        out[name] = d / f"{name}.png"
        Image.fromarray(getattr(data, name)()).save(out[name])
    return out


def test_detect_finds_one_face_in_astronaut_and_draws_it(runs, photos, tmp_path):
    out = tmp_path / "boxes.png"
    doc = predict_json(runs, "sig", photos["astronaut"], extra=["--detect", "--out", str(out)])
    (r,) = doc["results"]
    (face,) = r["faces"]
    x, y, w, h = face["box"]
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 170  # her face, upper middle
    left, top, right, bottom = face["crop"]
    assert right - left == bottom - top > w  # square and wider than the Haar box
    assert 1.0 <= face["score"] <= 5.0
    drawn = Image.open(out)
    assert drawn.size == (512, 512)
    assert not np.array_equal(np.asarray(drawn), np.asarray(Image.open(photos["astronaut"])))


def test_detect_reports_no_face_in_brick(runs, photos):
    doc = predict_json(runs, "sig", photos["brick"], extra=["--detect"])
    assert doc["results"][0]["faces"] == []
    res = cli(runs, "predict", "sig", str(photos["brick"]), "--detect")
    assert res.exit_code == 0 and "no face found" in res.stdout


# -- beautify ------------------------------------------------------------------------------


def beautify_json(root: Path, run: str, image: Path, out: Path, *extra: str) -> dict:
    res = cli(root, "beautify", run, str(image), "--out", str(out), "--json", *extra)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize("qa", [False, True], ids=["float", "quantise-aware"])
def test_beautify_raises_score_and_reports_the_honest_figure(runs, photos, tmp_path, qa):
    out = tmp_path / "after.png"
    extra = ["--steps", "40", "--lr", "0.02"] + (["--quantise-aware"] if qa else [])
    r = beautify_json(runs, "sig", photos["astronaut"], out, *extra)
    print(
        f"qa={qa}: before {r['before']:.4f} float {r['after_float']:.4f} saved {r['after_saved']:.4f}"
    )
    assert r["after_float"] > r["before"] + 0.05  # toward the target 5
    for key in ("after", "before", "diff"):
        assert Path(r["files"][key]).is_file()
    assert r["files"]["before"].endswith("after_before.png")
    assert Image.open(out).size == (32, 32) and "32x32" in r["resolution"]
    assert r["linf_levels"] <= 25  # 0.1 of 255 is 25.5: the saved file keeps within 25
    # the quantised score is exactly what `fbtui predict` says about the saved file
    (p,) = predict_json(runs, "sig", out)["results"]
    assert r["after_saved"] == pytest.approx(p["score"], abs=1e-5)
    (p0,) = predict_json(runs, "sig", photos["astronaut"])["results"]
    assert r["before"] == pytest.approx(p0["score"], abs=1e-5)


def test_bound_change_keeps_the_8_bit_file_inside_linf():
    import numpy as np

    from fbtui.tools.beautify import bound_change, linf_levels

    assert (linf_levels(0.1), linf_levels(1 / 255), linf_levels(0.2)) == (25, 1, 51)
    before = np.array([[[0, 100, 250]]], dtype=np.uint8)
    after = np.array([[[40, 74, 255]]], dtype=np.uint8)  # +40, -26, +5
    assert bound_change(after, before, 0.1).tolist() == [[[25, 75, 255]]]


def test_beautify_quantise_aware_gain_survives_saving(runs, photos, tmp_path):
    """Straight-through rounding: what was optimised is what gets saved."""
    import torch

    from fbtui.tools.beautify import (
        BeautifyOptions,
        beautify,
        make_view,
        round_ste,
        score_pixels,
        to_tensor01,
    )
    from fbtui.tools.inference import load_scorer

    scorer = load_scorer(run_dir(runs, "sig"))
    res = beautify(
        scorer,
        photos["astronaut"],
        tmp_path / "q.png",
        BeautifyOptions(steps=20, lr=0.02, quantise_aware=True),
    )
    saved = to_tensor01(Image.open(tmp_path / "q.png").convert("RGB"))
    view = make_view(scorer)
    # rounding the saved pixels again changes nothing: they are exact 8-bit levels
    assert torch.equal(round_ste(saved), saved)
    assert score_pixels(scorer, view, saved) == pytest.approx(res.after_saved, abs=1e-5)
    assert res.after_saved > res.before + 0.05


def test_beautify_frame_larger_than_crop_round_trips(runs, photos, tmp_path):
    """resize 40 -> centre crop 32: beautify writes the 40x40 frame, so predict's resize is
    a no-op and its crop sees exactly the optimised pixels (up to 8-bit rounding)."""
    out = tmp_path / "c.png"
    r = beautify_json(runs, "crop", photos["astronaut"], out, "--steps", "10", "--quantise-aware")
    assert tuple(r["size"]) == (40, 40) and tuple(r["model_input"]) == (32, 32)
    assert "central 32x32" in r["resolution"]
    assert not r["notes"]
    (p,) = predict_json(runs, "crop", out)["results"]
    assert r["after_saved"] == pytest.approx(p["score"], abs=1e-5)
    # outside the centre crop nothing had a gradient, so nothing changed
    before = np.asarray(Image.open(r["files"]["before"]), dtype=int)
    after = np.asarray(Image.open(out), dtype=int)
    assert np.array_equal(before[:4], after[:4]) and np.array_equal(before[:, :4], after[:, :4])


def test_beautify_sub_level_change_vanishes_when_saved(runs, photos, tmp_path):
    """The 2019 failure in miniature: an L∞ bound under half a grey level lets the float
    score rise, but the saved 8-bit file is the original image and scores the same."""
    out = tmp_path / "tiny.png"
    args = ("--steps", "20", "--lr", "0.0005", "--linf", "0.0018")
    r = beautify_json(runs, "sig", photos["astronaut"], out, *args)
    assert r["after_float"] > r["before"] + 1e-3
    assert r["after_saved"] == pytest.approx(r["before"], abs=1e-6)
    assert r["linf_levels"] == 0
    res = cli(runs, "beautify", "sig", str(photos["astronaut"]), "--out", str(out), *args)
    assert "vanished" in res.stdout and "--quantise-aware" in res.stdout


def test_beautify_full_size_writes_the_photo_size(runs, photos, tmp_path):
    out = tmp_path / "full.png"
    r = beautify_json(runs, "sig", photos["astronaut"], out, "--steps", "20", "--full-size")
    assert tuple(r["size"]) == (512, 512) and Image.open(out).size == (512, 512)
    assert "upsampled to 512x512" in r["resolution"]
    (p,) = predict_json(runs, "sig", out)["results"]
    assert r["after_saved"] == pytest.approx(p["score"], abs=1e-5)
    assert r["after_saved"] > r["before"]


def test_beautify_refuses_to_overwrite_the_input(runs, photos):
    res = cli(runs, "beautify", "sig", str(photos["brick"]), "--out", str(photos["brick"]))
    assert res.exit_code == 2 and "overwrite" in res.stderr


def test_beautify_human_output_states_resolution_and_honest_figure(runs, photos, tmp_path):
    res = cli(
        runs, "beautify", "sig", str(photos["astronaut"]), "--out", str(tmp_path / "h.png"),
        "--steps", "5",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.stdout.split())
    assert "works at 32x32" in text and "after saved (8-bit)" in text and "honest" in text


def test_beautify_says_when_the_score_leaves_the_rating_scale(photos, tmp_path):
    """An unclipped regression head can score 13: beautify prints it but says it is no
    rating."""
    import torch

    from fbtui.cli.run_cmd import create_run
    from fbtui.model import build_model

    cfg = _config(tmp_path, "wild", clip="none")
    d = create_run(cfg, tmp_path / "runs")
    model = build_model(cfg.model)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.bias.fill_(10.0)  # every face scores about 13
    torch.save({"model": model.state_dict()}, d / "checkpoints/best.pt")
    out = tmp_path / "w.png"
    res = cli(tmp_path / "runs", "beautify", "wild", str(photos["astronaut"]), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "outside the 1-5 rating scale" in " ".join(res.stdout.split())


def test_beautify_bad_image_exit_2(runs, odd_images, tmp_path):
    res = cli(
        runs, "beautify", "sig", str(odd_images["corrupt.jpg"]), "--out", str(tmp_path / "x.png")
    )
    assert res.exit_code == 2 and "corrupt.jpg" in res.stderr


# -- unsafe checkpoints --------------------------------------------------------------------


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_checkpoint_is_refused(runs, photos, tmp_path):
    evil_root = tmp_path / "runs"
    evil = evil_root / "evil-20260101-000000"
    shutil.copytree(run_dir(runs, "sig"), evil)
    marker = tmp_path / "pwned"
    with open(evil / "checkpoints/best.pt", "wb") as f:
        pickle.dump({"model": _Evil(marker)}, f, protocol=2)
    for args in (
        ["predict", "evil", str(photos["astronaut"])],
        ["beautify", "evil", str(photos["astronaut"]), "--out", str(tmp_path / "e.png")],
    ):
        res = cli(evil_root, *args)
        assert res.exit_code == 2, res.output
        assert "refused to load" in res.stderr and "best.pt" in res.stderr
        assert "Traceback" not in res.output
    assert not marker.exists()


def test_missing_checkpoint_and_unknown_run(runs, photos, tmp_path):
    res = cli(tmp_path, "predict", "no-such-run", str(photos["brick"]))
    assert res.exit_code == 2 and "Traceback" not in res.output


# -- units ---------------------------------------------------------------------------------


def test_square_crop_stays_inside_the_image():
    from fbtui.tools.faces import square_crop

    assert square_crop((0, 0, 50, 50), (100, 200)) == (0, 0, 90, 90)
    left, top, right, bottom = square_crop((80, 180, 20, 20), (100, 200))
    assert right <= 100 and bottom <= 200 and right - left == bottom - top == 36
    assert square_crop((0, 0, 100, 100), (60, 300)) == (0, 10, 60, 70)  # shrunk, shifted up


def test_diff_map_mid_grey_is_no_change():
    from fbtui.tools.beautify import diff_map

    a = np.full((4, 4, 3), 100, np.uint8)
    b = a.copy()
    b[0, 0, 0] = 110
    img, gain = diff_map(a, b)
    assert img[1, 1, 0] == 128 and img[0, 0, 0] == 255 and gain == pytest.approx(12.7)


def test_beautify_leaves_the_model_untouched(runs, photos, tmp_path):
    """Eval mode: BN running statistics are used, not updated; weights get no gradient."""
    import torch

    from fbtui.tools.beautify import BeautifyOptions, beautify
    from fbtui.tools.inference import load_scorer

    scorer = load_scorer(run_dir(runs, "sig"))
    before = {k: v.clone() for k, v in scorer.model.state_dict().items()}
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in scorer.model.modules())
    beautify(scorer, photos["astronaut"], tmp_path / "m.png", BeautifyOptions(steps=5))
    after = scorer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not scorer.model.training
    assert all(p.grad is None for p in scorer.model.parameters())


def test_predict_out_folder_for_several_images(runs, photos, tmp_path):
    out = tmp_path / "drawn"
    doc = predict_json(
        runs, "sig", photos["astronaut"], photos["brick"], extra=["--detect", "--out", str(out)]
    )
    assert [Path(r["out"]).name for r in doc["results"]] == [
        "astronaut_scored.png",
        "brick_scored.png",
    ]
    assert all(Path(r["out"]).is_file() for r in doc["results"])
