"""Diffusion Lab's user interface: one package per lab, each wiring a back-end of ``diffusion.labs`` to the page.

``app.py`` builds the Blocks from the tabs here. Modules only lay out, wire, format and draw; the maths is in
``diffusion``, reached through ``diffusion.labs``.

* ``toy/``, ``image/``, ``compare/``  one tab each: ``tab`` (layout and wiring), ``handlers`` (named API endpoints),
  ``session`` (a visitor's state), drawing and text
* ``widgets/``  what the tabs share on the page: the scrubber, the canvas rasteriser, pictures, inputs, exports
* ``serving/``  sessions, streamed jobs, CPU priorities, session release, Gradio's file cache
* ``gpu``       the ZeroGPU wrapper (``@gpu``): imported first by ``app.py``
"""
