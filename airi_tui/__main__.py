"""``python -m airi_tui``: attach a control room to an agent (``airi tui`` runs this).

    python -m airi_tui [--socket PATH] [--theme NAME]
    python -m airi_tui --tcp HOST:PORT --token-file FILE [--theme NAME]

Bad arguments end with a one-line reason and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from agent.protocol import Endpoint, default_socket_path
from airi_tui.theming import DEFAULT_THEME, theme_names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airi tui",
        description="Attach the airi control room to a running agent. "
        "Quitting (q) detaches; the agent keeps running.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--socket", metavar="PATH", help=f"the agent's socket (default: {default_socket_path()})"
    )
    where.add_argument("--tcp", metavar="HOST:PORT", help="the agent's TCP port (token required)")
    parser.add_argument("--token-file", metavar="FILE", help="file holding the TCP token")
    parser.add_argument(
        "--theme", default=DEFAULT_THEME, metavar="NAME", help=f"theme (default: {DEFAULT_THEME})"
    )
    return parser


def endpoint_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Endpoint:
    """The endpoint the arguments name; exits through ``parser.error`` when they are wrong."""
    if args.tcp is None:
        if args.token_file:
            parser.error("--token-file only goes with --tcp (the unix socket needs no token)")
        return Endpoint(path=args.socket or str(default_socket_path()))
    if not args.token_file:
        parser.error(
            "--tcp needs --token-file FILE (the agent keeps control.token in its state dir)"
        )
    try:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    except OSError as exc:
        parser.error(f"cannot read the token file {args.token_file}: {exc.strerror}")
    if not token:
        parser.error(f"the token file {args.token_file} is empty")
    try:
        endpoint = Endpoint.parse(args.tcp, token)
    except ValueError as exc:
        parser.error(f"--tcp {exc}")
    if not endpoint.port:
        parser.error(f"--tcp {args.tcp!r} is not HOST:PORT")
    return endpoint


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    endpoint = endpoint_from(args, parser)
    if args.theme not in theme_names():
        parser.error(f"unknown theme {args.theme!r} (available: {', '.join(theme_names())})")
    # The app (and most of Textual) loads only once the arguments are known to be good.
    from airi_tui.app import AiriApp

    AiriApp(endpoint, theme=args.theme).run()


if __name__ == "__main__":
    main()
