"""Safe model loading: guards that keep it safe as the code changes.

The refusals themselves (pickle-only weights, wrong classes, sizes, private/gated/missing repos, malformed ids) are
tested in test_hub.py and, through the app, in test_api_hub.py and test_api_uploads.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from diffusion import hub
from tests.tiny_unet import make_checkpoint

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([ROOT / "app.py", *(ROOT / "ui").rglob("*.py"), *(ROOT / "diffusion").rglob("*.py")])


@pytest.mark.parametrize("pattern, why", [
    (r"trust_remote_code", "no remote code is ever run"),
    (r"torch\.load\(|pickle\.loads?\(|joblib|dill", "nothing downloaded is ever unpickled"),
    (r"DiffusionPipeline|AutoModel|get_class_from_dynamic_module|importlib\.import_module\(.*(name|repo)",
     "no class is looked up by a name a visitor typed"),
])
def test_no_source_file_does_what_safe_loading_forbids(pattern, why):
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(pattern, line) and not line.lstrip().startswith("#")]
    assert not hits, f"{why}: {hits}"


def test_the_ui_reaches_checkpoints_only_through_hub_load_model():
    """load_folder takes a path: only hub.load_model's bundled name may reach it, never the UI."""
    files = list((ROOT / "ui").rglob("*.py"))
    assert len(files) > 20                                               # the whole UI, subpackages included
    for p in files:
        assert not re.search(r"\bload_folder\b", p.read_text()), p.name   # (gradio's get_upload_folder is fine)


def test_weights_are_read_as_safetensors_from_local_files_only(monkeypatch, tmp_path):
    from diffusers import UNet2DModel
    seen = {}
    original = UNet2DModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        seen.update(kwargs)
        return original(cls, *args, **kwargs)
    monkeypatch.setattr(UNet2DModel, "from_pretrained", classmethod(spy))
    hub.load_folder(make_checkpoint(tmp_path / "ckpt", channels=1, size=8, attention=False), measure=False)
    assert seen.get("use_safetensors") is True and seen.get("local_files_only") is True
    assert "trust_remote_code" not in seen


def test_the_servers_token_is_never_sent_and_sizes_are_capped():
    assert hub.MAX_DOWNLOAD_BYTES <= 400 * 2**20
    text = "".join(p.read_text() for p in (ROOT / "diffusion" / "hub").glob("*.py"))
    calls = re.findall(r"(model_info|hf_hub_download)\(([^)]*)\)", text)
    assert calls and all("token=False" in args for _, args in calls), calls


def test_the_upload_limit_is_set_in_launch():
    import app
    assert app.launch_kwargs()["max_file_size"] == "10mb"
