"""The `wechatpay-sandbox` command: serve the sandbox (the default), or only generate its key folder."""

from __future__ import annotations

import argparse
import os
import sys

from . import settings, validation

USAGE = """\
wechatpay-sandbox [serve] [--host HOST] [--port PORT] [--keys DIR] [--database PATH] [--public-url URL]
       wechatpay-sandbox keys [--keys DIR]"""


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wechatpay-sandbox", usage=USAGE,
        description="Serve a local WeChat Pay API v3 emulator. `keys` only writes the key folder and exits.",
        epilog="Other settings come from SANDBOX_* environment variables (see the README).")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; the sandbox has no authentication)")
    parser.add_argument("--port", type=int, default=5001, help="port (default 5001)")
    _add_keys_option(parser)
    parser.add_argument("--database", help="SQLite file or SQLAlchemy URL (SANDBOX_DATABASE; default "
                                           f"./{settings.DATA_DIR}/sandbox.sqlite3)")
    parser.add_argument("--public-url", help="where browsers reach it (SANDBOX_PUBLIC_URL; default "
                                             "http://127.0.0.1:PORT)")
    return parser


def _add_keys_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keys", metavar="DIR",
                        help=f"key folder (SANDBOX_KEY_DIR; default ./{settings.DATA_DIR}/keys)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["keys"]:
        return _keys(argv[1:])
    if argv[:1] == ["serve"]:
        argv = argv[1:]
    return _serve(_serve_parser().parse_args(argv))


def _keys(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wechatpay-sandbox keys",
                                     description="Write the key folder (only what is missing) and exit.")
    _add_keys_option(parser)
    args = parser.parse_args(argv)
    from .keys import ensure_keys

    keys = ensure_keys(args.keys or settings.load()["SANDBOX_KEY_DIR"])
    print(f"{keys.directory}: mchid {keys.mchid}, appid {keys.appid}, {keys.public_key_id}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    config = {}
    if args.keys:
        config["SANDBOX_KEY_DIR"] = args.keys
    if args.database:
        config["SANDBOX_DATABASE"] = args.database
    if args.public_url:
        config["SANDBOX_PUBLIC_URL"] = args.public_url
    elif "SANDBOX_PUBLIC_URL" not in os.environ:
        config["SANDBOX_PUBLIC_URL"] = f"http://127.0.0.1:{args.port}"
    if not validation.is_loopback_host(args.host):
        print(f" * warning: listening on {args.host}; the sandbox has no authentication. Only the hosts in "
              "SANDBOX_ALLOWED_HOSTS (and SANDBOX_PUBLIC_URL's) are answered.", file=sys.stderr)

    from werkzeug.serving import run_simple

    from . import create_app

    app = create_app(config)
    runtime = app.extensions["sandbox"]
    print(f" * WeChat Pay sandbox: {runtime.public_url} (keys {runtime.keys.directory}, "
          f"database {runtime.db.url})", flush=True)
    try:
        run_simple(args.host, args.port, app, threaded=True, use_reloader=False)
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
