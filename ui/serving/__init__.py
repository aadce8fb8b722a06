"""Serving plumbing shared by every tab: per-session state (``session``), a session's streamed background job
(``jobs``), CPU priorities for heavy work (``priority``), releasing closed sessions (``lifecycle``) and Gradio's
file cache (``gradio_cache``). The ZeroGPU wrapper is ``ui.gpu``."""
