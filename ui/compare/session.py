"""One visitor's Compare tab (:class:`CompareSession`), and the models the tab races: the Toy lab's default model
(trained once per server, shared read-only) and its twins on other schedules or without a time input, the exact
mixture denoisers, and the Image lab's bundled model through :mod:`diffusion.hub`'s shared cache."""
from __future__ import annotations

import threading


from diffusion import hub, toy
from diffusion.labs import racers

from ..serving.session import LabSession, SessionRegistry
from ..toy.session import DEFAULT_FIT, SHARED
from ..widgets.inputs import refusal

SESSIONS = SessionRegistry()   # live Compare sessions (tests and the load benchmark check they are released)

TOY_DEFAULT = "toy: default model (moons)"
EXACT_2D = "exact: gaussians8 mixture"
EXACT_1D = "exact: gmm1d mixture (1-D)"
IMAGE_BUNDLED = "image: bundled MNIST DDPM"
TOY_YOURS = "toy: your Toy-lab model"
RACE_MODELS = [TOY_DEFAULT, EXACT_2D, EXACT_1D, IMAGE_BUNDLED]
EACH_DEFAULT = "each sampler's default"
RACE_SPACINGS = ["leading", "trailing", "linspace", EACH_DEFAULT]


# --- the session ------------------------------------------------------------------------------------------------------
class CompareSession(LabSession):
    """One visitor's Compare tab: the Stop flag of their race and its last result (for the PNG export)."""

    registry = SESSIONS

    def __init__(self):
        super().__init__()
        self.result = None

    def release(self) -> None:
        self.result = None


def _session(session) -> CompareSession:
    return session if isinstance(session, CompareSession) else CompareSession()


# --- shared models ---------------------------------------------------------------------------------------------------
class _NoTimeModel:
    """The default toy model's twin trained without a time input: trained once per server, on first need."""

    def __init__(self):
        self._lock = threading.Lock()
        self.model = None

    def get(self):
        with self._lock:
            if self.model is None:
                self.model = toy.fit(SHARED.data.name, seed=0, time_embedding=False, **DEFAULT_FIT)
            return self.model


NO_TIME = _NoTimeModel()


class _ScheduleModels:
    """The default toy model's twins trained on another schedule (same data and settings), once per server each:
    the spacing view shows a trained network on the schedule the visitor picks."""

    def __init__(self):
        self._lock = threading.Lock()
        self.models: dict = {}

    def get(self, schedule: str):
        default = _default_toy_model()
        if default.schedule.name == schedule and default.schedule.num_timesteps == 1000:
            return default
        with self._lock:
            if schedule not in self.models:
                fit = {**DEFAULT_FIT, "schedule": schedule, "num_timesteps": 1000}
                self.models[schedule] = toy.fit(SHARED.data.name, seed=0, **fit)
            return self.models[schedule]


SCHEDULE_MODELS = _ScheduleModels()


def _default_toy_model():
    if not SHARED.wait(timeout=600) or SHARED.error:
        raise refusal("The Toy lab's default model is not available (it failed to train); try an exact model.")
    return SHARED.model


def _racer(model_choice: str, toy_session=None) -> racers.Racer:
    if model_choice == TOY_DEFAULT:
        m = _default_toy_model()
        return racers.toy_racer(m, f"the Toy lab's default model ({m.data_name}, {m.schedule.name}, "
                              f"T = {m.schedule.num_timesteps}, {m.prediction_type})")
    if model_choice == TOY_YOURS:
        model = getattr(toy_session, "model", None)
        if model is None:
            raise refusal("Your Toy-lab model is not there yet: open the Toy lab first (or pick another model).")
        return racers.toy_racer(model, "your Toy-lab model")
    if model_choice == EXACT_2D:
        return racers.exact_racer("gaussians8")
    if model_choice == EXACT_1D:
        return racers.exact_racer("gmm1d")
    try:
        return racers.image_racer(hub.load_model(hub.BUNDLED_ID))
    except hub.HubError as exc:
        raise refusal(f"The image model cannot be raced: {exc}") from None
