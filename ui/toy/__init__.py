"""The Toy lab's UI: ``tab`` (layout and wiring), ``handlers`` (the /toy_* endpoints), ``session`` (a visitor's
state and the default model shared by all), ``views`` and ``figures`` (drawing), ``text`` (explanations)."""
