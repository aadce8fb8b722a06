"""How the tabs show text: the LaTeX delimiters every Markdown block with equations uses (one list for the lab)."""

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

__all__ = ["LATEX"]
