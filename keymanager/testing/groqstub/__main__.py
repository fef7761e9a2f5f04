"""``python -m keymanager.testing.groqstub``: run the stub in the foreground.

Prints the URL and every organization's keys (generated ones look like real keys), or one JSON
object with ``--json`` so a benchmark driver in another process can parse them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from typing import Any

from .server import GroqStub, make_key


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.config:
        with open(args.config, encoding="utf-8") as fh:
            config = json.load(fh)
    flavor = args.flavor or config.get("flavor", "groq")
    config["flavor"] = flavor
    orgs = config.setdefault("orgs", {})
    if args.orgs or not orgs:
        for i in range(1, (args.orgs or 1) + 1):
            orgs.setdefault(f"org_{i}", {"keys": [make_key(flavor) for _ in range(args.keys_per_org)]})
    for name in ("window", "latency", "seed", "limiter"):
        value = getattr(args, name)
        if value is not None:
            config["window_seconds" if name == "window" else name] = value
    return config


def write_keys_file(path: str, stub: GroqStub, keys: list[str]) -> None:
    """Shell-sourceable env file in the names ``manage.py keys import-env`` reads.

    Written to a temporary name and renamed, so a reader never sources half a file; mode 0600
    because it holds (fake, but real-looking) secrets.
    """
    if stub.flavor == "openai":
        lines = [f"OPENAI_BASE_URL={stub.openai_base_url}"] + [f"OPENAI_API_KEY={k}" for k in keys[:1]]
    else:
        lines = [f"GROQ_BASE_URL={stub.url}"]
        lines += [f"GROQ_API_KEY{i if i > 1 else ''}={k}" for i, k in enumerate(keys, start=1)]
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keymanager.testing.groqstub", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--config", help="JSON file with GroqStub keyword arguments (orgs, default_limits, ...)")
    parser.add_argument("--orgs", type=int, default=0, help="generate this many organizations org_1..org_N")
    parser.add_argument("--keys-per-org", type=int, default=1)
    parser.add_argument("--window", type=float, help="length of the 'minute' window in seconds")
    parser.add_argument("--latency", type=float, help="base delay per completion in seconds")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--limiter", choices=("rolling", "bucket", "mixed"),
                        help="how limits are counted (default rolling; mixed: rolling minutes, refilling days)")
    parser.add_argument("--flavor", choices=("groq", "openai"))
    parser.add_argument("--keys-file", help="also write the keys as GROQ_API_KEY, GROQ_API_KEY2, ... to this env file")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    config = build_config(args)
    stub = GroqStub(**config, host=args.host, port=args.port, verbose=args.verbose).start()
    orgs = {org: list(spec.get("keys", [])) for org, spec in config["orgs"].items()}
    if args.keys_file:
        write_keys_file(args.keys_file, stub, [k for keys in orgs.values() for k in keys])
    if args.json:
        print(json.dumps({"url": stub.url, "openai_base_url": stub.openai_base_url, "orgs": orgs}))
    else:
        print(f"groqstub ({stub.flavor}) listening on {stub.url}")
        print(f"  groq SDK base_url={stub.url}  openai SDK base_url={stub.openai_base_url}")
        for org, keys in orgs.items():
            for key in keys:
                print(f"  {org} {key}")
    sys.stdout.flush()

    # Ctrl-C reaches every process of the terminal's group and `make demo` adds a SIGTERM right
    # after it: both only ask to stop, and once stopping, further signals are ignored, so that a
    # second one cannot interrupt the shutdown half-way and leave the server thread running.
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
