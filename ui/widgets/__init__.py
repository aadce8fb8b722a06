"""What the tabs share on the page: the scrubber (``scrubber``), input checks (``inputs``), exports (``export``)."""
