"""The services of the replica stack: api, web, model, integration and status roles.

Each role runs as ``python3 -m services.app.<role>`` and reads its settings once from ``SD_*``
environment variables (see :mod:`services.app.settings`).
"""
