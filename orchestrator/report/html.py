"""`edgebench report --html OUT/`: one static page, OUT/index.html, with Tables 2 and 3 (and the
scenario table when there are scenario cells), the figures (`figures.draw_report_figures`, their
PNG and SVG files beside the page) and where each row came from: the device's facts as probed at
the start of its sweep, the runtime the agent loaded (the trial's `env`), the settings, the
agent's and edgebench's versions, the sweep and when it ran.

No server, no network: relative links only, the style inline, no script. Everything read from
the store is escaped (jinja2's autoescape); the tables come escaped from `tables.render`.

The page is built in a hidden folder beside OUT and renamed into place when complete: a failure
leaves OUT as it was. An existing OUT is replaced only when it is empty or an earlier report
(its index.html names edgebench as generator); a folder of other files is refused.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional

import pandas as pd

from ..errors import UserError
from ..options import SINGLE_STREAM
from ..store.runs import cell_key, flag, is_ok, one_trial_per_run
from . import scenarios, tables

PAGE = "index.html"
GENERATOR = "edgebench report --html"
# Settings that are shown elsewhere on the page, too long for a row, or not for publishing
# (the controller's host, user and pid: for `sweep --resume`).
HIDDEN_SETTINGS = ("device_facts", "plan", "controller")
# A cell of the provenance: the sweep it was measured in and what identifies it.
PROVENANCE_KEY = ["sweep_id", "device", "model", "backend", "precision", "batch", "scenario"]


@dataclass
class HtmlReport:
    page: Path
    figures: int
    skipped: int


def write_html_report(store, out_dir, sweep_id: Optional[str] = None, draw_figures=None) -> HtmlReport:
    """Writes OUT/index.html and its figures (see the module's doc); `draw_figures` stands in for
    `figures.draw_report_figures` (tests). UserError when OUT cannot be written or holds other
    files."""
    out_dir = Path(out_dir)
    _check_out(out_dir)
    if draw_figures is None:
        from .figures import draw_report_figures as draw_figures
    building = _hidden_sibling(out_dir, "tmp")
    try:
        drawn = draw_figures(store, building, sweep_id)
        (building / PAGE).write_text(_page(store, sweep_id, drawn, building), encoding="utf-8")
        _move_into_place(building, out_dir)
    except OSError as exc:
        raise UserError("--html: cannot write %s: %s" % (out_dir, exc.strerror or exc)) from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    skipped = sum(1 for f in drawn if f.skipped)
    return HtmlReport(out_dir / PAGE, len(drawn) - skipped, skipped)


# --------------------------------------------------------------------------
# The folder
# --------------------------------------------------------------------------


def _is_earlier_report(out_dir: Path) -> bool:
    page = out_dir / PAGE
    try:
        with page.open(encoding="utf-8", errors="replace") as stream:
            head = stream.read(2048)
    except OSError:
        return False
    return '<meta name="generator" content="%s' % GENERATOR in head


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError("--html: %s is a file; give a folder for the page and its figures" % out_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not _is_earlier_report(out_dir):
        raise UserError(
            "--html: %s holds other files; give a new or empty folder, or one an earlier report wrote"
            % out_dir
        )
    parent = out_dir.resolve().parent
    if not parent.is_dir():
        raise UserError("--html: folder does not exist: %s" % parent)


def _hidden_sibling(out_dir: Path, what: str) -> Path:
    """A new folder beside OUT (same file system, so a rename moves it), honouring the umask."""
    path = out_dir.resolve().parent / (".%s.%s-%s" % (out_dir.name, what, secrets.token_hex(4)))
    try:
        path.mkdir()
    except OSError as exc:
        raise UserError("--html: cannot write in %s: %s" % (path.parent, exc.strerror or exc)) from None
    return path


def _move_into_place(building: Path, out_dir: Path) -> None:
    """The finished folder becomes OUT; an earlier report is set aside first, put back should the
    rename fail, and removed after."""
    if not out_dir.exists():
        os.rename(building, out_dir)
        return
    earlier = out_dir.resolve().parent / (".%s.old-%s" % (out_dir.name, secrets.token_hex(4)))
    os.rename(out_dir, earlier)
    try:
        os.rename(building, out_dir)
    except OSError:
        os.rename(earlier, out_dir)
        raise
    shutil.rmtree(earlier, ignore_errors=True)


# --------------------------------------------------------------------------
# What the page shows
# --------------------------------------------------------------------------


def _edgebench_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edgebench")
    except PackageNotFoundError:
        return "unknown"


def _tables(frame: pd.DataFrame) -> List[dict]:
    """Table 2, Table 3 and the scenario table (when there are scenario cells), rendered."""
    shown = [
        ("table2", "Table 2: devices", tables.device_table(frame), None),
        ("table3", "Table 3: models", tables.model_table(frame), None),
    ]
    scenario = scenarios.scenario_table(frame)
    if len(scenario):
        shown.append(("scenarios", "Scenarios", scenario, scenarios.CAPTION))
    return [
        {"id": key, "heading": heading, "html": tables.render(table, "html", caption=caption)}
        for key, heading, table, caption in shown
    ]


def _figure_entries(drawn: list, folder: Path) -> List[dict]:
    """Each figure with its files as links relative to the page (the PNG shown, the SVG linked)."""
    entries = []
    for figure in drawn:
        links = {
            fmt: Path(path).resolve().relative_to(folder.resolve()).as_posix()
            for fmt, path in figure.paths.items()
        }
        image = links.get("png") or links.get("svg") or next(iter(links.values()), None)
        entries.append(
            {
                "kind": figure.kind,
                "title": figure.title,
                "note": figure.note,
                "skipped": figure.skipped or image is None,
                "image": image,
                "links": links,
                "anchor": "figure-" + (Path(image).stem if image else figure.kind),
            }
        )
    return entries


def _chosen_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """The ok trials the tables show: each cell's runs in its latest sweep with ok runs."""
    if frame.empty:
        return frame
    columns = tables.CELL_KEYS + ["sweep_id"]
    chosen = {cell_key(row, columns) for row in tables.cell_rows(frame).to_dict("records")}
    single = frame[frame["scenario"].fillna(SINGLE_STREAM) == SINGLE_STREAM]
    ok = single[single["status"].map(is_ok).astype(bool)]
    picked = ok[[cell_key(row, columns) in chosen for row in ok.to_dict("records")]]
    return pd.concat([picked, scenarios.scenario_rows(frame)], ignore_index=True)


def _stored_trials(store, trial_ids: List[str]) -> Dict[str, dict]:
    from ..store.schema import Trial

    found = {}
    with store.Session() as s:
        for trial in s.query(Trial).filter(Trial.id.in_(trial_ids)):
            found[trial.id] = {
                "settings": dict(trial.settings or {}),
                "env": dict(trial.env or {}),
                "agent_version": trial.agent_version,
                "created_at": trial.created_at,
                "finished_at": trial.finished_at,
            }
    return found


def _stored_devices(store) -> Dict[str, dict]:
    from ..store.schema import Device

    with store.Session() as s:
        return {
            d.name: {"platform": d.platform, "connection": d.connection, "facts": dict(d.facts or {})}
            for d in s.query(Device)
        }


def _stored_sweeps(store, sweep_ids: List[str]) -> List[dict]:
    from ..store.schema import Sweep

    with store.Session() as s:
        rows = s.query(Sweep).filter(Sweep.id.in_(sweep_ids)).order_by(Sweep.created_at).all()
        return [
            {
                "id": sweep.id,
                "started": _when(sweep.created_at),
                "finished": _when(sweep.finished_at),
                "status": sweep.status,
                "settings": _settings_items(sweep.settings or {}),
                "settings_json": _json(_visible(sweep.settings or {})),
            }
            for sweep in rows
        ]


def _when(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "\u2013"
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M:%S UTC")


def _json(value) -> str:
    return json.dumps(value, indent=1, sort_keys=True, default=str)


def _visible(settings: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in HIDDEN_SETTINGS}


def _short(value) -> str:
    """A setting's value on one line: scalars as they are, lists and dicts as compact JSON."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "\u2013" if value is None else str(value)


def _settings_items(settings: dict) -> List[str]:
    """``key=value`` for each setting that was given (empty containers and nulls left out)."""
    return [
        "%s=%s" % (key, _short(value))
        for key, value in sorted(_visible(settings).items())
        if value is not None and value != {} and value != []
    ]


def _runtime(env: dict) -> Dict[str, str]:
    """The runtime the agent loaded, in a few fields, from the trial's `env`."""
    name = env.get("runtime") or ""
    threads = [
        "%s %s" % (label, "default" if env[key] is None else _short(env[key]))
        for key, label in (
            ("intra_op_threads", "intra-op"),
            ("inter_op_threads", "inter-op"),
            ("threads", "threads"),
        )
        if key in env
    ]
    return {
        "runtime": ("%s %s" % (name, env.get("version") or "")).strip() or "\u2013",
        "providers": ", ".join(map(str, env.get("providers") or [])) or "\u2013",
        "threads": "; ".join(threads) or "\u2013",
    }


def _device_kind(facts: dict, trial_simulated: bool, trial_emulated: bool) -> str:
    if trial_emulated or facts.get("emulated"):
        emulator = facts.get("emulated")
        return "emulated" + (" (%s)" % emulator if isinstance(emulator, str) else "")
    if trial_simulated or facts.get("simulated"):
        return "simulated"
    return "real"


def _device_facts(facts: dict, stored: dict, kind: str) -> Dict[str, str]:
    memory = facts.get("memory_total_mb")
    return {
        "platform": stored.get("platform") or "\u2013",
        "board": facts.get("board") or "\u2013",
        "arch": facts.get("arch") or "\u2013",
        "cpu": "%s (%s cores)" % (facts.get("cpu_model") or "\u2013", facts.get("cpus") or "\u2013"),
        "memory": "%.0f MB" % memory if isinstance(memory, (int, float)) else "\u2013",
        "os": " ".join(str(facts[k]) for k in ("os", "kernel") if facts.get(k)) or "\u2013",
        "python": " ".join(str(facts[k]) for k in ("python_implementation", "python") if facts.get(k))
        or "\u2013",
        "power_sensor": _short(facts.get("power_sensor")),
        "kind": kind,
    }


def _label(key: tuple) -> str:
    sweep, device, model, backend, precision, batch, scenario = key
    parts = [str(device), str(model), str(backend), str(precision or "\u2013"), "batch %s" % batch]
    return " \u00b7 ".join(parts + ([str(scenario)] if scenario and scenario != SINGLE_STREAM else []))


def _distinct(values) -> str:
    seen = []
    for value in values:
        text = _short(value)
        if text not in seen:
            seen.append(text)
    return " | ".join(seen) or "\u2013"


def _provenance(store, frame: pd.DataFrame) -> dict:
    """Per row of the tables: the runs behind it, the device as probed, the runtime, the settings,
    the versions, the sweep and the times; the devices and the sweeps once each."""
    trials = _chosen_trials(frame)
    if trials.empty:
        return {"rows": [], "devices": [], "sweeps": []}
    stored = _stored_trials(store, [str(t) for t in trials["trial_id"]])
    devices = _stored_devices(store)
    rows, device_rows = [], {}
    for key, runs in trials.groupby(PROVENANCE_KEY, dropna=False, sort=True):
        found = [stored[str(t)] for t in runs["trial_id"] if str(t) in stored]
        if not found:
            continue
        first = found[0]
        simulated = any(flag(v) for v in runs["simulated"])
        emulated = any(flag(v) for v in runs["emulated"])
        facts = first["settings"].get("device_facts") or devices.get(key[1], {}).get("facts") or {}
        described = _device_facts(facts, devices.get(key[1], {}), _device_kind(facts, simulated, emulated))
        device_rows.setdefault((key[1], _json(described)), dict(described, device=key[1]))
        settings = [_settings_items(t["settings"]) for t in found]
        rows.append(
            {
                "label": _label(key),
                "sweep": key[0],
                "model_sha256": _short(runs["model_sha256"].iloc[0])[:12],
                "runs": len(one_trial_per_run(runs.to_dict("records"))),  # a run recovered twice: once
                "trial_ids": ", ".join(sorted(str(t) for t in runs["trial_id"])),
                "measured": "%s to %s"
                % (
                    _when(_earliest(t["created_at"] for t in found)),
                    _when(_latest(t["finished_at"] for t in found)),
                ),
                "agent": _distinct(t["agent_version"] for t in found),
                "device_kind": described["kind"],
                **{
                    k: _distinct(_runtime(t["env"])[k] for t in found)
                    for k in ("runtime", "providers", "threads")
                },
                "settings": sorted({item for items in settings for item in items}),
                "env_json": _json(first["env"]),
            }
        )
    sweep_ids = sorted({str(s) for s in trials["sweep_id"]})
    return {"rows": rows, "devices": list(device_rows.values()), "sweeps": _stored_sweeps(store, sweep_ids)}


def _earliest(values):
    known = [v for v in values if v is not None]
    return min(known) if known else None


def _latest(values):
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _store_name(store) -> str:
    try:
        return store.engine.url.render_as_string(hide_password=True)
    except AttributeError:
        return str(store.engine.url)


def _page(store, sweep_id: Optional[str], drawn: list, folder: Path) -> str:
    from ..store import results_frame

    frame = results_frame(store, sweep_id)
    figures = _figure_entries(drawn, folder)
    return _template().render(
        generator=GENERATOR,
        version=_edgebench_version(),
        written=_when(datetime.now(timezone.utc)),
        store=_store_name(store),
        sweep_id=sweep_id,
        tables=_tables(frame),
        figures=[f for f in figures if not f["skipped"]],
        skipped=[f for f in figures if f["skipped"]],
        provenance=_provenance(store, frame),
    )


def _template():
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(TEMPLATE)


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="generator" content="{{ generator }} {{ version }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgebench report{% if sweep_id %}: sweep {{ sweep_id }}{% endif %}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; line-height: 1.4; }
h1, h2, h3 { font-weight: 600; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: 0.3em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #444; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
p.note { font-size: 0.85em; color: #444; margin: 0.3em 0; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #333; }
code, pre { font-size: 0.85em; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; }
details summary { cursor: pointer; color: #225; }
nav a { margin-right: 1em; }
</style>
</head>
<body>
<header>
<h1>edgebench report</h1>
<p>{% if sweep_id %}Sweep <code>{{ sweep_id }}</code>{% else %}All sweeps: each cell from the latest sweep that measured it{% endif %},
from <code>{{ store }}</code>. Written {{ written }} by edgebench {{ version }}.</p>
<nav>{% for t in tables %}<a href="#{{ t.id }}">{{ t.heading }}</a>{% endfor %}<a href="#figures">Figures</a><a href="#provenance">Provenance</a></nav>
</header>
<main>
{% for t in tables %}
<section id="{{ t.id }}">
<h2>{{ t.heading }}</h2>
{{ t.html | safe }}{# tables.render escaped every cell #}
</section>
{% endfor %}
<section id="figures">
<h2>Figures</h2>
{% for f in figures %}
<figure id="{{ f.anchor }}" data-kind="{{ f.kind }}">
<img src="{{ f.image }}" alt="{{ f.title }}">
<figcaption>{{ f.title }}{% if f.note %}. {{ f.note }}{% endif %}
{% for fmt, link in f.links.items() %} <a href="{{ link }}">{{ fmt | upper }}</a>{% endfor %}</figcaption>
</figure>
{% else %}
<p>No figures.</p>
{% endfor %}
{% if skipped %}
<h3>Not drawn</h3>
<ul>
{% for f in skipped %}<li data-kind="{{ f.kind }}">{{ f.title }}: {{ f.note or "nothing to draw" }}</li>
{% endfor %}
</ul>
{% endif %}
</section>
<section id="provenance">
<h2>Provenance</h2>
<h3>Rows</h3>
{% if provenance.rows %}
<table id="provenance-rows">
<caption>Each row of the tables: the runs behind it, the runtime the agent loaded, the settings</caption>
<thead><tr><th>Row</th><th>Sweep</th><th class="num">Runs</th><th>Measured</th><th>Device</th><th>Agent</th><th>Runtime</th><th>Providers</th><th>Threads</th><th>Settings</th></tr></thead>
<tbody>
{% for r in provenance.rows %}<tr>
<td>{{ r.label }}<br><small>model sha256 <code>{{ r.model_sha256 }}</code></small></td>
<td><code>{{ r.sweep }}</code></td>
<td class="num">{{ r.runs }}</td>
<td>{{ r.measured }}</td>
<td>{{ r.device_kind }}</td>
<td>{{ r.agent }}</td>
<td>{{ r.runtime }}</td>
<td>{{ r.providers }}</td>
<td>{{ r.threads }}</td>
<td><details><summary>{{ r.settings | length }} settings</summary><code>{{ r.settings | join(", ") }}</code>
<p>Trials: <code>{{ r.trial_ids }}</code></p><pre>{{ r.env_json }}</pre></details></td>
</tr>
{% endfor %}
</tbody>
</table>
{% else %}
<p>No successful trials.</p>
{% endif %}
<h3>Devices</h3>
{% if provenance.devices %}
<table id="provenance-devices">
<caption>Each device as its probe found it at the start of the sweep</caption>
<thead><tr><th>Device</th><th>Kind</th><th>Platform</th><th>Board</th><th>Arch</th><th>CPU</th><th class="num">Memory</th><th>OS</th><th>Python</th><th>Power sensor</th></tr></thead>
<tbody>
{% for d in provenance.devices %}<tr><td>{{ d.device }}</td><td>{{ d.kind }}</td><td>{{ d.platform }}</td><td>{{ d.board }}</td><td>{{ d.arch }}</td><td>{{ d.cpu }}</td><td class="num">{{ d.memory }}</td><td>{{ d.os }}</td><td>{{ d.python }}</td><td>{{ d.power_sensor }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
<h3>Sweeps</h3>
{% if provenance.sweeps %}
<table id="provenance-sweeps">
<caption>The sweeps the rows come from</caption>
<thead><tr><th>Sweep</th><th>Started</th><th>Finished</th><th>Status</th><th>Settings</th></tr></thead>
<tbody>
{% for s in provenance.sweeps %}<tr><td><code>{{ s.id }}</code></td><td>{{ s.started }}</td><td>{{ s.finished }}</td><td>{{ s.status }}</td>
<td><details><summary>{{ s.settings | length }} settings</summary><pre>{{ s.settings_json }}</pre></details></td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
</section>
</main>
</body>
</html>
"""
