"""The HTTP predictions API (`blipbot serve`): Replicate's `/v1` wire format, and eachlabs'.

`app.build_api` makes the FastAPI app over a running `ChatService`; `server.serve` runs it with
uvicorn. Importing this package imports neither, so reading the config stays cheap.
"""
