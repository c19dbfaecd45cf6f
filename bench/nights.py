"""What the night benches share: the standard arguments, the session and the night,
with the stages before the measured one run first (idempotent)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging

from shoprank import stages
from shoprank.config import load_config
from shoprank.night import Night
from shoprank.session import build_session


def open_night(ap: argparse.ArgumentParser, before: tuple[str, ...]) -> tuple[argparse.Namespace, Night]:
    """(parsed arguments, the night of --run-date under --conf and --set, after `before`)."""
    ap.add_argument("--conf", required=True)
    ap.add_argument("--run-date", required=True, type=dt.date.fromisoformat)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_config(a.conf, a.overrides)
    night = Night.open(build_session(cfg.spark), cfg, a.run_date, force=True)
    for name in before:
        stages.runner(name)(night)
    return a, night
