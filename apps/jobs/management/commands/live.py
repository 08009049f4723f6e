"""``manage.py live``: receive one acquisition from a detector, analyse it live, record it.

    python manage.py live merlin --host 10.0.0.5 --data-port 6342 --control-port 6341 \
        --nav-shape 128 128 --analysis virtual --param shape=ring --param cx=128 \
        --param cy=128 --param ri=20 --param ro=60 --record live/scan_042 --out ring.npz
    python manage.py live dectris --host 10.0.0.6 --api-port 80 --zmq-port 9999 \
        --nav-shape 128 128 --analysis sum --analysis com --param cx=96 --param cy=96 --param r=20

``--analysis`` may be given several times; each ``--param`` belongs to the ``--analysis``
before it. Prints one JSON line (frames, lost frames, seconds, frames per second) and writes
the results as ``analyze`` does (several analyses: keys ``<analysis>.<result>``). A stream that
breaks off still writes what arrived, then exits with an error.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.analyses import ANALYSES
from apps.core.errors import CoreError
from apps.core.live.receiver import make_source
from apps.core.live.session import LiveResult, receive
from apps.core.live.stream import DetectorSource
from apps.datasets.paths import resolve_in_roots
from apps.jobs.management.commands.analyze import load_npy, parse_param


class AnalysisAction(argparse.Action):
    """``--analysis NAME``: starts a new ``[name, params]`` item."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        items = list(getattr(namespace, self.dest, None) or [])
        items.append((values, []))
        setattr(namespace, self.dest, items)


class ParamAction(argparse.Action):
    """``--param K=V``: a parameter of the last ``--analysis``."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        items = getattr(namespace, "analyses", None)
        if not items:
            raise CommandError(f"--param {values!r} comes before any --analysis.")
        items[-1][1].append(values)


class Command(BaseCommand):
    help = "Receive one acquisition from a Merlin or DECTRIS detector, analyse and record it."

    def add_arguments(self, parser: CommandParser) -> None:
        detectors = parser.add_subparsers(dest="detector", required=True)
        merlin = detectors.add_parser("merlin", help="Merlin / Medipix3 over TCP")
        merlin.add_argument("--data-port", type=int, default=6342)
        merlin.add_argument(
            "--control-port", type=int, help="arm through this port (without: only listen)"
        )
        merlin.add_argument(
            "--trigger", choices=["soft", "external"], default="soft", help="who triggers"
        )
        dectris = detectors.add_parser("dectris", help="DECTRIS SIMPLON API + zmq stream")
        dectris.add_argument("--api-port", type=int, default=80, help="SIMPLON REST API port")
        dectris.add_argument("--zmq-port", type=int, default=9999, help="zmq stream port")
        dectris.add_argument(
            "--trigger-mode", choices=["exte", "exts"], default="exte", help="SIMPLON trigger"
        )
        dectris.add_argument(
            "--no-configure",
            dest="configure",
            action="store_false",
            help="only arm: the detector is configured for the scan already",
        )
        for sub in (merlin, dectris):
            self._common(sub)

    def _common(self, parser: Any) -> None:
        parser.add_argument("--host", required=True)
        parser.add_argument("--nav-shape", type=int, nargs="+", required=True, metavar="N")
        parser.add_argument(
            "--analysis",
            dest="analyses",
            action=AnalysisAction,
            required=True,
            help=f"one of {', '.join(ANALYSES)}; may be given several times",
        )
        parser.add_argument(
            "--param", action=ParamAction, metavar="KEY=VALUE", help="of the --analysis before"
        )
        parser.add_argument("--record", help="folder (inside the data roots) for the recording")
        parser.add_argument("--out", help="output .npz (default: live-<analysis>.npz)")
        parser.add_argument("--timeout", type=float, default=10.0, help="silence allowed, s")
        parser.add_argument(
            "--first-timeout", type=float, default=60.0, help="wait for the first frame, s"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._run(options)
        except (CoreError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def _run(self, options: dict[str, Any]) -> None:
        specs = [(name, self._params(name, texts)) for name, texts in options["analyses"]]
        record = self._record_folder(options["record"])
        out = Path(options["out"] or f"live-{'-'.join(name for name, _ in specs)}.npz")
        source = self._source(options)
        result = receive(source, specs, record=record)
        np.savez(out, **self._arrays(result))
        report = result.report
        self.stdout.write(
            json.dumps(
                {
                    "detector": options["detector"],
                    "state": report["state"],
                    "frames": report["frames_received"],
                    "frames_expected": report["frames_expected"],
                    "lost_frames": report["lost_frames"],
                    "truncated_after": report["truncated_after"],
                    "seconds": round(result.seconds, 6),
                    "frames_per_second": round(result.frames_per_second, 2),
                    "analyses": [a.name for a in result.analyses],
                    "out": str(out),
                    "record": result.recording,
                    "error": report["error"],
                }
            )
        )
        if report["state"] == "failed":
            raise CommandError(f"the acquisition ended early: {report['error']}")

    def _params(self, name: str, texts: list[str]) -> dict[str, Any]:
        params = dict(parse_param(t) for t in texts)
        if name == "masks" and isinstance(params.get("masks"), str):
            params["masks"] = load_npy(params["masks"], what="--param masks=")
        return params

    def _record_folder(self, folder: str | None) -> str | None:
        if folder is None:
            return None
        try:
            return str(resolve_in_roots(folder))
        except ValidationError as exc:
            messages = [m for ms in exc.message_dict.values() for m in ms]
            raise CommandError(f"--record: {' '.join(messages)}") from None

    def _source(self, options: dict[str, Any]) -> DetectorSource:
        merlin = options["detector"] == "merlin"
        return make_source(
            {
                "kind": options["detector"],
                "host": options["host"],
                "nav_shape": options["nav_shape"],
                "timeout": options["timeout"],
                "first_timeout": options["first_timeout"],
                "data_port": options["data_port"] if merlin else options["zmq_port"],
                "control_port": options["control_port"] if merlin else options["api_port"],
                "trigger_mode": options["trigger"] if merlin else options["trigger_mode"],
                "configure": merlin or options["configure"],
            }
        )

    def _arrays(self, result: LiveResult) -> dict[str, np.ndarray]:
        if len(result.analyses) == 1:
            return result.results[0]
        arrays: dict[str, np.ndarray] = {}
        for i, (analysis, results) in enumerate(zip(result.analyses, result.results, strict=True)):
            earlier = [a.name for a in result.analyses[:i]]
            prefix = f"{analysis.name}{i}" if analysis.name in earlier else analysis.name
            arrays.update({f"{prefix}.{k}": v for k, v in results.items()})
        return arrays
