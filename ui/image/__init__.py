"""The Image lab's UI: ``tab`` (layout and wiring), ``handlers`` (the /image_* endpoints), ``session`` (a visitor's
state), ``render`` (drawing frames), ``text`` (explanations)."""
