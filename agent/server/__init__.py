"""The control socket: TUIs and ``airi ctl`` attach here."""

from agent.server.listener import ControlServer
from agent.server.session import Limits
from agent.server.socket_dir import ServerError

__all__ = ["ControlServer", "Limits", "ServerError"]
