"""The model side of blipbot: prompts, engines that run BLIP-2/BLIP, and the worker that feeds them.

Importing the package is cheap; torch and transformers load only with `inference.model` and its
siblings (`blip2`, `blip`, `generation`, `loading`). `inference.bench` is tooling beside it (the
benchmark and the random-weight models for tests): it imports serving code, never the reverse.
"""
