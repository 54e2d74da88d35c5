"""The Atelier web service: settings, job store, storage, auth and the HTTP API.

Nothing in this package imports torch, `models` or `worker`: the API process stays small and
enqueues work by task name (see `app.queue`).
"""
