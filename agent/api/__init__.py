"""The REST API and the external brain's websocket: the agent for scripts and other programs.

Stream Deck, Streamer.bot and shell scripts reach the agent over HTTP on 127.0.0.1 with a
bearer token; every action goes through ``Agent.handle``, the same door the control socket
uses, so the two can never disagree. See ``rest.py`` for the routes and ``external.py`` for
the websocket an external brain drives the show through.
"""
