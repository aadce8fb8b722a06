"""The Lessons menu (ui/lessons.py): every lesson names controls the app registered, with values those controls
accept, a tab and a button that exist in the app; choosing one gives the updates for exactly that lesson."""
import gradio as gr

from ui import lessons


def _choices(component) -> list:
    return [c[1] if isinstance(c, (tuple, list)) else c for c in (component.choices or [])]


def _accepts(component, value) -> bool:
    if isinstance(component, gr.Accordion):
        return value == {"open": True} or value == {"open": False}
    if isinstance(component, gr.CheckboxGroup):
        return isinstance(value, list) and set(value) <= set(_choices(component))
    if isinstance(component, (gr.Dropdown, gr.Radio)):
        return value in _choices(component)
    if isinstance(component, gr.Slider):
        return component.minimum <= value <= component.maximum
    if isinstance(component, gr.Checkbox):
        return isinstance(value, bool)
    return False


def test_every_lesson_sets_registered_controls_to_values_they_accept(app_server):
    elem_ids = {b.elem_id for b in app_server.demo.blocks.values() if getattr(b, "elem_id", None)}
    tab_ids = {getattr(b, "id", None) for b in app_server.demo.blocks.values() if isinstance(b, gr.Tab)}
    assert len(lessons.LESSONS) >= 7 and len({x.name for x in lessons.LESSONS}) == len(lessons.LESSONS)
    for lesson in lessons.LESSONS:
        assert lesson.tab in tab_ids, lesson.name
        assert lesson.button is None or lesson.button in elem_ids, (lesson.name, lesson.button)
        assert lesson.show is None or lesson.show in elem_ids, (lesson.name, lesson.show)
        for key, value in lesson.settings.items():
            assert key in lessons.CONTROLS, (lesson.name, key)
            assert _accepts(lessons.CONTROLS[key], value), (lesson.name, key, value)
        sentences = [s for s in lesson.prompt.replace("?", ".").split(". ") if s.strip()]
        assert 2 <= len(sentences) <= 3, (lesson.name, sentences)


def test_the_checker_itself_refuses_bad_values():
    assert not _accepts(gr.Slider(1, 10), 11) and not _accepts(gr.Dropdown(["a", "b"]), "c")
    assert not _accepts(gr.CheckboxGroup(["a"]), ["a", "z"]) and _accepts(gr.Radio([("A", "a")]), "a")


def test_choosing_a_lesson_updates_its_tab_its_controls_and_the_prompt(app_server):
    lesson = next(x for x in lessons.LESSONS if x.name == "DDPM vs DDIM and η")
    out = lessons.lesson_update(lesson.name)
    keys = list(lessons.CONTROLS)
    assert len(out) == len(keys) + 2
    assert getattr(out[0], "selected", None) == "toy"
    changed = {k: u for k, u in zip(keys, out[1:-1]) if u.get("value") is not None}
    assert changed == {k: {"__type__": "update", "value": v} for k, v in lesson.settings.items()}
    assert out[-1].startswith("**DDPM vs DDIM and η.**")
    nothing = lessons.lesson_update(lessons.NONE)
    assert all(u == {"__type__": "update"} for u in nothing[1:-1]) and nothing[-1] == ""
