"""The bundled digit judge (diffusion/digit_judge.py, assets/digit-judge): it loads from safetensors, reads real
held-out digits as their labels and scribbles as no digit, measures diversity against the real digits, and refuses
bad input and broken folders in words."""
import json
import shutil

import pytest
import torch

from diffusion.digit_judge import BUNDLED_DIR, DigitNet, load_judge, mean_pairwise
from tests.digit_classifier import load_data, make_junk


@pytest.fixture(scope="module")
def judge():
    torch.set_num_threads(1)
    return load_judge(BUNDLED_DIR)


@pytest.fixture(scope="module")
def data():
    return load_data(20)


def test_the_bundled_judge_is_small_and_safetensors_only():
    files = sorted(p.name for p in BUNDLED_DIR.iterdir())
    assert files == ["config.json", "model.safetensors"]
    assert sum(p.stat().st_size for p in BUNDLED_DIR.iterdir()) < 2_500_000      # 2.0 MB: 504,718 float32s


def test_it_reads_held_out_real_digits_as_their_labels(judge, data):
    read = torch.stack([judge.as_asked(data["held_x"][i:i + 1], int(data["held_y"][i]))[0]
                        for i in range(len(data["held_x"]))]).float().mean()
    assert read >= 0.93
    assert judge.figures["held_out_read_as_labelled"] == pytest.approx(float(read), abs=1e-4)   # the config is true


def test_it_reads_scribbles_as_no_digit(judge, data):
    junk = make_junk(data["held_x"], 300, torch.Generator().manual_seed(7))
    label, prob, _ = judge.read(junk)
    assert float(((label != 10) & (prob >= judge.confidence)).float().mean()) <= 0.05


def test_diversity_is_one_for_real_digits_and_zero_for_copies(judge, data):
    for d in (0, 3, 8):
        real = data["held_x"][data["held_y"] == d]
        assert judge.diversity(real, d) == pytest.approx(1.0, abs=0.2)
        assert judge.diversity(real[:1].repeat(5, 1, 1, 1), d) == pytest.approx(0.0, abs=1e-6)
    ones = data["held_x"][data["held_y"] == 1]
    assert judge.diversity(ones, 8) < judge.diversity(data["held_x"][data["held_y"] == 8], 8)  # 1s vary less than 8s


def test_mean_pairwise_against_a_closed_form():
    pts = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])     # distances 5, 8, 5
    assert mean_pairwise(pts) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="diversity needs at least 2 samples, got 1"):
        mean_pairwise(pts[:1])


def test_bad_input_is_refused_in_words(judge):
    with pytest.raises(ValueError, match=r"reads images \[N, 1, 20, 20\] in \[-1, 1\], got \(2, 3, 20, 20\)"):
        judge.read(torch.zeros(2, 3, 20, 20))
    with pytest.raises(ValueError, match=r"got ndarray"):
        judge.read(torch.zeros(2, 1, 20, 20).numpy())
    with pytest.raises(ValueError, match=r"digit must be an integer 0-9, got 10"):
        judge.as_asked(torch.zeros(2, 1, 20, 20), 10)
    with pytest.raises(ValueError, match=r"digit must be an integer 0-9, got True"):
        judge.diversity(torch.zeros(2, 1, 20, 20), True)
    label, _, _ = judge.read(torch.full((1, 1, 20, 20), float("nan")))     # NaN reads as a blank page, no crash
    assert label.shape == (1,)


def test_a_broken_judge_folder_is_refused_in_words(tmp_path):
    with pytest.raises(ValueError, match="no digit judge in"):
        load_judge(tmp_path)
    shutil.copytree(BUNDLED_DIR, tmp_path / "j")
    config = json.loads((tmp_path / "j" / "config.json").read_text())
    config["real_diversity"] = config["real_diversity"][:9]
    (tmp_path / "j" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="needs 10 positive real_diversity figures"):
        load_judge(tmp_path / "j")
    config["real_diversity"], config["width"] = [1.0] * 10, 16           # weights of width 32 in a width-16 net
    (tmp_path / "j" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="weights in .* do not fit its config"):
        load_judge(tmp_path / "j")


def test_the_network_is_the_tests_own_classifier():
    from tests import digit_classifier
    assert digit_classifier.DigitNet is DigitNet
