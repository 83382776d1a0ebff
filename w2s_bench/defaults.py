"""The sweep's defaults (the offline demo) and the protocol's step names, in a module with no heavy
imports, so that the command line's parser (``--help``) can read them without loading torch."""

DEFAULT_TASKS = ["w2s_demo_sentiment"]
DEFAULT_WEAK = ["tfidf"]
DEFAULT_STRONG = ["minilm-l6"]
STEPS = ("weak", "ceiling", "w2s")
