"""The web page (served by `blipbot serve` at `/`): take or upload a photo, hear it described, ask.

`routes.web_router` is mounted on the API's app by `bot.app.runner`; importing this package
imports neither FastAPI nor Jinja, so reading the config stays cheap.
"""
