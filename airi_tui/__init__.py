"""The airi control room: a Textual app that attaches to a running agent over its socket.

It imports nothing from the agent but ``agent.protocol``, so it can run on any box that can
reach the socket, and the agent never depends on it.
"""
