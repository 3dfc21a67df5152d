"""The application around the front ends: its command line, its settings, and how it is put together.

`cli` is the `blipbot` command, `config` the one typed `Settings`, and `runner` builds config ->
store -> queue (and model) -> service -> front ends for `blipbot run`, `worker` and the terminal.
"""
