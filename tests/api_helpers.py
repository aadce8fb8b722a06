"""What the tests through the API share: a good call on the same session after a bad one (the server keeps
serving), the values a sketch pad sends, the check that every endpoint works with its defaults, and the sizes of
toy runs long enough to hold a slot yet inside the work limits on any machine."""
from __future__ import annotations

from gradio_client import handle_file
from PIL import Image


def still_serves_toy(client) -> None:
    """A good toy call on the same session after a bad one."""
    path = client.predict(view="forward", index=0, api_name="/toy_frame")
    assert Image.open(path).size == (340, 340)


def still_serves_image(client) -> None:
    """A good Image-lab call on the same session after a bad one."""
    _, html, _, text = client.predict(api_name="/image_forward")
    assert 'data-n="' in html and "as " in text


def drawing_value(path) -> dict:
    """What the Toy lab's sketch pad sends: a composite image (and its layers)."""
    return {"background": None, "layers": [handle_file(str(path))], "composite": handle_file(str(path))}


def assert_endpoints_have_defaults(client, names) -> None:
    """Every endpoint in ``names`` is listed by the app's API and every one of its parameters has a default (so
    ``Client(url).predict(api_name=...)`` works as it is)."""
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in names:
        assert name in api, f"{name} missing from the API"
        for p in api[name]["parameters"]:
            assert p["parameter_has_default"], f"{name}: parameter {p['parameter_name']!r} has no default"


def long_training_steps(hidden: int, depth: int, batch_size: int, most: int = 8000) -> int:
    """Training steps the server's own estimate (diffusion.labs.toy_cost, calibrated once in the test process, as in
    the in-process app server) puts at no more than a quarter of the lab's limit: the run holds its slot for a while
    yet is never refused, on a slow or busy machine too (the estimate, not a fixed count, decides)."""
    from diffusion.labs import toy_cost
    from ui.serving import limits
    from ui.toy.handlers import _session
    net = _session(None).model.net
    work = toy_cost.macs(2, hidden, depth, net.fourier_octaves, net.embedding_dim)
    fit = toy_cost.largest_steps(toy_cost.calibrate(), limits.MAX_TRAIN_S / 4, batch_size=batch_size, work=work)
    assert fit >= 200, f"only {fit} steps fit in a quarter of the limit"
    return min(most, fit)


def long_sampling_steps(sampler: str, n: int, most: int = 1000) -> int:
    """Sampling steps of the default toy model estimated at no more than a quarter of the lab's limit
    (see long_training_steps)."""
    from diffusion import model_calls
    from diffusion.fidelity import SAMPLES
    from diffusion.labs import toy_cost
    from ui.serving import limits
    from ui.toy.handlers import _session
    work = toy_cost.model_work(_session(None).model)
    per_call = toy_cost.sample_seconds(toy_cost.calibrate(), calls=1, n=n + (SAMPLES if n < SAMPLES else 0),
                                       work=work)
    steps = min(most, int(limits.MAX_SAMPLE_S / 4 / per_call / (model_calls(sampler, 2) / 2)))
    assert steps >= 10, f"only {steps} steps fit in a quarter of the limit"
    return steps
