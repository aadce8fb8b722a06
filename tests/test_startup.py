"""The README's start command, as a process: `python app.py` serves its page and API offline, and stays light.

Times are measured (bench/bench_startup.py prints them), never asserted: here only that it serves at all, in order,
and that serving needs neither diffusers nor a trained model (both come later, on a visitor's first page).
"""
import pytest

from bench import bench_startup

pytestmark = pytest.mark.slow


def test_python_app_py_serves_the_page_then_the_api():
    out = bench_startup.one_start(timeout_s=240)
    assert set(out) == {"serve_s", "api_s"}
    assert 0 < out["serve_s"] <= out["api_s"]


def test_serving_does_not_import_diffusers():
    figures = bench_startup.import_times()
    assert figures["diffusers_imported_before_serving"] is False
    assert all(figures[k] > 0 for k in ("gradio", "torch", "app_and_build_demo"))
