"""Diffusion Lab's user interface: Gradio tabs that wire the ``diffusion`` core to the page.

``app.py`` builds the Blocks from the tabs here. Modules only wire, format and draw; the maths is in ``diffusion``.

* ``common``      shared helpers: frame encoding, the client-side scrubber (HTML + JS), GIF export, input checks
* ``toy_tab``     the Toy lab tab: layout, events and the ``/toy_*`` API endpoints
* ``toy_session`` per-visitor state and the start-up default model shared by every visitor
* ``toy_runs``    recording a toy sampling run (forward, reverse, x̂₀, fields, exact run) as arrays
* ``toy_views``   drawing a recorded run's frames; ``toy_render`` the numpy/PIL rasteriser under it
* ``toy_figures`` the static views: diffusion vs flow matching, the 1-D density with ODE/SDE paths
* ``toy_text``    the Toy lab's explanations and equations (Markdown with LaTeX)
* ``image_tab``   the Image lab tab (issue 4); ``compare_tab`` the Compare tab (issue 5)
"""
