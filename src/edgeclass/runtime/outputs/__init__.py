"""Outputs of the live loop beside the window and the files: the web view (``web``), identity events
(``events``) and where they go (``sinks``: JSON lines, ``webhook``, ``mqtt``), face ``snapshots``.

Nothing here is imported by ``edgeclass.runtime`` itself: aiohttp and paho-mqtt (the ``serve`` extra)
are needed only by the output that uses them.
"""
