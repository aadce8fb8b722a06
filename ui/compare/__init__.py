"""The Compare tab's UI: ``tab`` (layout and wiring), ``handlers`` (the /compare_*, /race and /break_it
endpoints), ``session`` (a visitor's state and the raced models), ``figures`` (drawing), ``text`` (explanations)."""
