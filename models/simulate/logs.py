"""Machine logs for hosts: RFC 3164 syslog lines and dpkg.log lines, as events and raw bytes.

Hosts carry no labels; these events exist so the log parsers, the log features and the demo have
realistic traffic from the same seeded run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models.simulate.params import DAY_MS, SimConfig

__all__ = ["LogColumns", "draw_logs"]

_SYSLOG = (
    # program, severity, message template ({n} is a small number, {ip} an address)
    ("sshd", 6, "Accepted publickey for deploy from 10.0.{n}.{ip} port 5{n}22 ssh2"),
    ("sshd", 4, "Failed password for invalid user admin from 203.0.113.{ip} port 4{n}11 ssh2"),
    ("CRON", 6, "(root) CMD (run-parts /etc/cron.hourly)"),
    ("kernel", 3, "Out of memory: Killed process {n}{ip} (java) total-vm:{n}48576kB"),
    ("systemd", 6, "Started Session {n}{ip} of user deploy."),
    ("nginx", 5, "upstream response time {n}.{ip}s exceeds threshold"),
)
_PACKAGES = (
    ("openssl", "3.0.{n}-1"),
    ("nginx", "1.24.{n}-2"),
    ("python3", "3.11.{n}-1"),
    ("libc6", "2.36-{n}"),
    ("cowsay", "3.03+dfsg1-{n}"),
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass
class LogColumns:
    ts: np.ndarray  # int64 epoch ms
    host: list[str]
    source: list[str]
    program: list[str | None]
    pid: list[int | None]
    severity: list[int | None]
    action: list[str | None]
    package: list[str | None]
    version: list[str | None]
    message: list[str]
    raw: list[bytes]


def draw_logs(cfg: SimConfig, rng: np.random.Generator) -> LogColumns:
    """``log_lines_per_host_day`` lines per host per day (one in 20 a dpkg line), sorted by time."""
    n = cfg.n_hosts * cfg.days * cfg.log_lines_per_host_day
    host_i = rng.integers(0, max(cfg.n_hosts, 1), n)
    ts = np.sort(cfg.start_ms + rng.integers(0, cfg.days * DAY_MS, n))
    ts -= ts % 1000  # syslog and dpkg carry whole seconds
    is_dpkg = rng.random(n) < 0.05
    tmpl = rng.integers(0, len(_SYSLOG), n)
    pkg = rng.integers(0, len(_PACKAGES), n)
    nums = rng.integers(1, 10, n).tolist()
    ips = rng.integers(1, 255, n).tolist()
    pids = rng.integers(100, 65000, n).tolist()
    cols = LogColumns(ts, [], [], [], [], [], [], [], [], [], [])
    for i, t in enumerate(ts.tolist()):  # log lines are a small share of the events
        host = f"host{host_i[i]:02d}"
        tm = time.gmtime(t // 1000)
        cols.host.append(host)
        if is_dpkg[i]:
            name, ver = _PACKAGES[pkg[i]]
            ver = ver.format(n=nums[i])
            action = "upgrade" if nums[i] % 2 else "install"
            old = "<none>" if action == "install" else ver + "~old"
            msg = f"{action} {name}:amd64 {old} {ver}"
            line = time.strftime("%Y-%m-%d %H:%M:%S ", tm) + msg
            cols.source.append("dpkg")
            cols.program.append("dpkg")
            cols.pid.append(None)
            cols.severity.append(None)
            cols.action.append(action)
            cols.package.append(name)
            cols.version.append(ver)
        else:
            program, sev, text = _SYSLOG[tmpl[i]]
            msg = text.format(n=nums[i], ip=ips[i])
            clock = f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
            stamp = f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {clock}"
            line = f"<{8 * 4 + sev}>{stamp} {host} {program}[{pids[i]}]: {msg}"
            cols.source.append("syslog3164")
            cols.program.append(program)
            cols.pid.append(pids[i])
            cols.severity.append(sev)
            cols.action.append(None)
            cols.package.append(None)
            cols.version.append(None)
        cols.message.append(msg)
        cols.raw.append(line.encode())
    return cols
