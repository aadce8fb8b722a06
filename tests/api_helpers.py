"""What the tests through the API share: a good call on the same session after a bad one (the server keeps
serving), the values a sketch pad sends, and the check that every endpoint works with its defaults."""
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
