"""infra/: every command a unit or a container runs is a real command of this project, the
nginx configuration passes `nginx -t`, and the limits in the files agree with each other.

No container engine runs here, so the image is never built and the compose file never
started: this checks what can be checked without one (tests/topology runs the nginx
configuration, gunicorn and the workers for real).
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from sqlalchemy.engine import make_url

from portal.attachments.upload import upload_size_limit
from portal.audit import export_check
from portal.cli import cli
from portal.contributions.copy_pdf import FONT_DIRECTORY, FONT_FILES, FONT_PACKAGE
from portal.settings import AttachmentSettings, DisarmSettings
from reference_cms.__main__ import parse_arguments
from tests.support.nginx import TEMPLATE, check_config, loopback_values, placeholders

INFRA = Path(__file__).resolve().parents[2] / "infra"
PROJECT = INFRA.parent
SYSTEMD = INFRA / "systemd"
PYTHON = "/opt/portal/venv/bin/python"
# What systemd fills in for %i (a port) and %H (the host name), for checking the arguments.
SPECIFIERS = {"%i": "9301", "%H": "portal-host"}


def check_command(arguments: list[str]) -> None:
    """`arguments` (after the interpreter) run a real portal command with valid options."""
    assert arguments[:1] == ["-m"], arguments
    module, rest = arguments[1], arguments[2:]
    if module == "gunicorn":
        assert rest[:1] == ["-c"] and (PROJECT / rest[1]).is_file(), rest
    elif module == "reference_cms":
        parse_arguments(rest)
    elif module == "loopback.tsa":
        assert rest[:2] == ["--directory", "instance/demo/tsa"] and rest[2] == "--port", rest
        assert 0 < int(rest[3]) < 65536 and len(rest) == 4, rest
    else:
        assert module == "portal.cli", module
        command: click.Command = cli
        while isinstance(command, click.Group):
            name, rest = rest[0], rest[1:]
            assert name in command.commands, f"no command {name!r} in {arguments}"
            command = command.commands[name]
        command.make_context(command.name, list(rest))  # raises on an unknown option


# --- systemd -------------------------------------------------------------------------------


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections and their (key, value) lines, repeated keys kept."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def values(path: Path, section: str, key: str) -> list[str]:
    return [value for name, value in unit(path).get(section, []) if name == key]


SERVICES = sorted(SYSTEMD.glob("*.service"))


def test_the_units_are_the_ones_the_docs_name() -> None:
    names = {path.name for path in SYSTEMD.iterdir() if path.is_file()}
    assert names == {
        "portal.target",
        "portal-web@.service",
        "portal-worker@.service",
        "portal-disarm@.service",
        "portal-notifications.service",
        "portal-sequencer.service",
        "portal-expiry.service",
        "portal-retention.service",
        "portal-retention.timer",
        "portal-onboarding-remind.service",
        "portal-onboarding-remind.timer",
        "portal-scanner-check.service",
        "portal-scanner-check.timer",
    }


@pytest.mark.parametrize("path", SERVICES, ids=lambda path: path.name)
def test_every_unit_runs_a_real_command(path: Path) -> None:
    [line] = values(path, "Service", "ExecStart")
    for specifier, example in SPECIFIERS.items():
        line = line.replace(specifier, example)
    program, *arguments = shlex.split(line)
    assert program == PYTHON
    check_command(arguments)


def test_every_service_is_hardened_by_the_shared_drop_in() -> None:
    drop_in = dict(unit(SYSTEMD / "portal-.service.d" / "hardening.conf")["Service"])
    assert drop_in["User"] == "portal" and drop_in["NoNewPrivileges"] == "yes"
    assert drop_in["ProtectSystem"] == "strict" and drop_in["ProtectHome"] == "yes"
    assert drop_in["PrivateTmp"] == "yes" and drop_in["CapabilityBoundingSet"] == ""
    assert drop_in["ReadWritePaths"] == "/var/lib/portal/files"
    assert drop_in["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"
    assert drop_in["EnvironmentFile"] == "/etc/portal/portal.env"
    assert drop_in["Restart"] == "on-failure"
    # The drop-in reaches a unit only through its name: every service starts "portal-".
    assert all(path.name.startswith("portal-") for path in SERVICES)
    for path in SERVICES:  # and none loosens what it sets
        keys = {key for key, _ in unit(path).get("Service", [])}
        assert not keys & {"User", "ProtectSystem", "ReadWritePaths", "NoNewPrivileges"}


def test_the_disarm_worker_has_no_network_and_bounded_resources() -> None:
    service = dict(unit(SYSTEMD / "portal-disarm@.service")["Service"])
    assert service["PrivateNetwork"] == "yes"
    assert service["MemoryMax"] and service["CPUQuota"] and service["TasksMax"]
    # SIGTERM to the worker alone, so the converter finishes the document in hand; SIGKILL to
    # the whole cgroup only once the stop times out, after the longest conversion allowed.
    assert service["KillMode"] == "mixed"
    assert float(service["TimeoutStopSec"]) > DisarmSettings().wall_seconds
    # Its drop-in lets bubblewrap make the converter's namespaces, file system and new /proc,
    # and the converter set its limits, and nothing else that the shared drop-in forbids.
    sandbox = unit(SYSTEMD / "portal-disarm@.service.d" / "sandbox.conf")["Service"]
    assert sandbox == [
        ("RestrictNamespaces", "user mnt pid net ipc uts cgroup"),
        ("SystemCallFilter", "@mount capset setrlimit prlimit64"),
        ("RestrictAddressFamilies", "AF_NETLINK"),
        ("ProcSubset", "all"),
        ("ProtectKernelTunables", "no"),
        ("ProtectKernelLogs", "no"),
    ]


def test_the_scanner_check_runs_daily_and_after_clamd_starts_and_retries_only_a_silent_clamd() -> (
    None
):
    service = SYSTEMD / "portal-scanner-check.service"
    assert values(service, "Service", "Type") == ["oneshot"]
    assert values(service, "Install", "WantedBy") == ["clamav-daemon.service"]
    assert values(service, "Unit", "After") == ["clamav-daemon.service"]
    timer = SYSTEMD / "portal-scanner-check.timer"
    # Every 12 hours, its delay fixed per host: a run a little late never lets the record lapse.
    assert values(timer, "Timer", "OnCalendar") == ["*-*-* 04,16:15:00"]
    assert values(timer, "Timer", "FixedRandomDelay") == ["true"]
    assert values(timer, "Timer", "Persistent") == ["true"]
    # The retry drop-in is read after the shared one (file-name order), so its lines win.
    drop_in = SYSTEMD / "portal-scanner-check.service.d" / "retry.conf"
    assert drop_in.name > "hardening.conf"
    retry = dict(unit(drop_in)["Service"])
    # check-scanner exits 1 when a test file got through (retrying cannot help) and 2 when
    # clamd does not answer (tests/integration/test_check_scanner.py).
    assert retry == {"Restart": "on-failure", "RestartSec": "60", "RestartPreventExitStatus": "1"}
    assert AttachmentSettings().scanner_check_max_age_hours == 24 > 12 + 0.25


def test_the_sequencer_always_comes_back_and_may_write_the_witness_directory_only() -> None:
    drop_in = SYSTEMD / "portal-sequencer.service.d" / "sequencer.conf"
    assert drop_in.name > "hardening.conf"  # read after the shared drop-in: its Restart wins
    assert dict(unit(drop_in)["Service"]) == {
        "Restart": "always",
        "RestartSec": "2",
        "ReadWritePaths": "-/var/lib/portal-witness",
    }
    example = tomllib.loads((PROJECT / "config" / "production.example.toml").read_text("utf-8"))
    assert example["audit"]["witness_directory"] == "/var/lib/portal-witness"
    assert values(SYSTEMD / "portal-sequencer.service", "Service", "ExecStart") == [
        f"{PYTHON} -m portal.cli audit sequencer"
    ]


def test_web_instances_listen_on_loopback_only() -> None:
    environment = values(SYSTEMD / "portal-web@.service", "Service", "Environment")
    assert "PORTAL_BIND=127.0.0.1:%i" in environment


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify`, with the install paths pointed at this checkout."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / "units"
    shutil.copytree(SYSTEMD, copy)
    environment_file = tmp_path / "portal.env"
    environment_file.write_text("PORTAL_ENV=test\n", encoding="utf-8")
    for path in (path for path in copy.rglob("*") if path.is_file()):
        text = path.read_text(encoding="utf-8").replace(PYTHON, sys.executable)
        text = text.replace("/opt/portal/app", str(PROJECT))
        path.write_text(text.replace("/etc/portal/portal.env", str(environment_file)))
    units = [str(path) for path in sorted(copy.glob("portal*")) if path.is_file()]
    result = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line
        for line in result.stderr.splitlines()
        if re.search(r"Unknown|not executable|Invalid|Failed to parse (?!system call)", line)
    ]
    assert result.returncode == 0 and not complaints, result.stderr


# --- compose -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((INFRA / "compose.yaml").read_text("utf-8"))
    return loaded


PORTAL_SERVICES = (
    "setup",
    "web-a",
    "web-b",
    "worker-a",
    "worker-b",
    "notifications",
    "mail",
    "sequencer",
    "tsa",
    "expiry",
    "retention",
    "cms",
)


def test_compose_runs_the_whole_stack(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {*PORTAL_SERVICES, "postgres", "redis", "oidc", "nginx"}


@pytest.mark.parametrize("name", PORTAL_SERVICES)
def test_every_portal_container_runs_a_real_command(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["image"] == "partner-portal:local"
    command = service["command"]
    if command[:2] == ["sh", "-c"]:
        steps = [shlex.split(step) for step in command[2].split("&&")]
    else:
        steps = [command]
    for step in steps:
        assert step[0] == "python"
        check_command(step[1:])


@pytest.mark.parametrize("name", PORTAL_SERVICES)
def test_every_portal_container_trusts_one_proxy_and_holds_no_secret(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    environment = service["environment"]
    assert environment["PORTAL_SECURITY__PROXY_HOPS"] == "1"
    assert environment["PORTAL_SECURITY__SESSION_COOKIE_SECURE"] == "true"
    for variable in environment:
        assert not re.search(r"SECRET|PASSWORD|TOKEN|_KEY$", variable), variable
    assert make_url(environment["PORTAL_DATABASE__URL"]).password is None
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


def test_compose_fills_every_nginx_placeholder_and_points_at_both_web_instances(
    compose: dict[str, Any],
) -> None:
    environment = compose["services"]["nginx"]["environment"]
    assert {name for name in environment if name.startswith("PORTAL_")} == placeholders()
    binds = {compose["services"][name]["environment"]["PORTAL_BIND"] for name in ("web-a", "web-b")}
    assert {environment["PORTAL_WEB_A"], environment["PORTAL_WEB_B"]} == binds
    assert all(bind.startswith("127.0.0.1:") for bind in binds)
    assert compose["services"]["nginx"]["volumes"] == [
        "./nginx/portal.conf.template:/etc/nginx/templates/default.conf.template:ro"
    ]


def test_compose_keeps_secrets_out_of_the_file(compose: dict[str, Any]) -> None:
    text = (INFRA / "compose.yaml").read_text("utf-8")
    assert "BEGIN" not in text and "SECRET_KEY" not in text
    assert set(compose["secrets"]) == {"tls-certificate", "tls-certificate-key"}
    assert all(set(secret) == {"file"} for secret in compose["secrets"].values())


# --- nginx, gunicorn, the image ------------------------------------------------------------


def nginx_directive(name: str) -> list[str]:
    text = TEMPLATE.read_text(encoding="utf-8")
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, flags=re.MULTILINE)


def gunicorn_setting(name: str) -> Any:
    """A setting's literal value in infra/gunicorn.conf.py, read without running the file."""
    tree = ast.parse((INFRA / "gunicorn.conf.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return ast.literal_eval(value)
    raise AssertionError(f"{name} is not set in infra/gunicorn.conf.py")


def test_nginx_accepts_the_rendered_template(tmp_path: Path) -> None:
    rendered = loopback_values(
        tmp_path, https_port=8443, http_port=8080, upstreams=("127.0.0.1:5001", "127.0.0.1:5002")
    )
    result = check_config(tmp_path, rendered)
    assert result.returncode == 0, result.stderr


def test_the_upload_limit_is_just_above_the_apps() -> None:
    # The server's, then the export check's own location's (portal/audit/export_check.py).
    sizes = nginx_directive("client_max_body_size")
    assert len(sizes) == 2 and all(size.endswith("m") for size in sizes)
    for size, app_bytes in zip(
        sizes, (AttachmentSettings().max_bytes, export_check.MAX_UPLOAD_BYTES), strict=True
    ):
        limit = int(size[:-1]) * 1024 * 1024
        app_limit = upload_size_limit(app_bytes)
        assert app_limit < limit <= app_limit + 2 * 1024 * 1024


def test_nginx_never_buffers_bodies_to_disk_and_sets_the_forwarded_headers() -> None:
    assert nginx_directive("proxy_request_buffering") == ["off"]
    assert nginx_directive("proxy_buffering") == ["off"]
    assert nginx_directive("proxy_max_temp_file_size") == ["0"]
    headers = dict(value.split(None, 1) for value in nginx_directive("proxy_set_header"))
    assert headers["X-Forwarded-For"] == "$remote_addr"  # replaced, never appended to
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Request-Id"] == "$request_id"
    assert headers["X-Forwarded-Host"] == '""'


def test_gunicorn_outlasts_nginx_connections_and_leaves_the_scheme_to_the_app() -> None:
    # gthread workers: `timeout` is a worker's heartbeat, not a request limit. What must hold is
    # that gunicorn never closes an idle kept-alive connection before nginx stops reusing it.
    assert gunicorn_setting("worker_class") == "gthread"
    [reuse] = nginx_directive("keepalive_timeout")  # in the upstream block, its only use
    assert gunicorn_setting("keepalive") > int(reuse.removesuffix("s"))
    # Each worker accepts from a socket of its own, so kept-alive connections cannot all pile
    # onto one worker (docs/operations.md).
    assert gunicorn_setting("reuse_port") is True
    assert gunicorn_setting("secure_scheme_headers") == {}


def test_the_image_builds_assets_with_the_projects_script_and_runs_as_no_one_special() -> None:
    dockerfile = (INFRA / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+) AS (\S+)$", dockerfile, flags=re.MULTILINE)
    assert [name for _image, name in stages] == ["assets", "dev-oidc", "portal"]
    assert stages[-1][0].startswith("python:3.11-slim")
    assert "RUN bash scripts/build-assets.sh" in dockerfile
    assert "--require-hashes" in dockerfile and "requirements/main.txt" in dockerfile
    final = dockerfile.split("AS portal", 1)[1]
    assert re.findall(r"^USER (\S+)$", final, flags=re.MULTILINE) == ["portal"]
    assert "HEALTHCHECK" in final and "/healthz" in final
    for copied in re.findall(r"^COPY (?!--from)(\S+)", final, flags=re.MULTILINE):
        assert not copied.startswith(("instance", ".")), copied
    ignored = (INFRA / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line for line in ignored if line and not line.startswith("#")]
    assert rules[0] == "**"  # everything is left out of the build unless named
    assert not any(rule.startswith(("!instance", "!.")) for rule in rules)


def test_the_copy_pdfs_font_is_installed_where_the_portal_looks_for_it() -> None:
    # Debian's fonts-dejavu-core, in the image and by `make demo` and `make test`
    # (portal/contributions/copy_pdf.py makes no PDF without it).
    final = (INFRA / "Dockerfile").read_text(encoding="utf-8").split("AS portal", 1)[1]
    assert f"apt-get install -y --no-install-recommends {FONT_PACKAGE}" in final
    makefile = (PROJECT / "Makefile").read_text(encoding="utf-8")
    installs = f"install-debian-package.sh {FONT_PACKAGE} {FONT_DIRECTORY}/"
    assert any(f"{installs}{name} " in makefile for name in FONT_FILES.values())
    for target in ("demo", "pytest"):
        [needs] = re.findall(rf"^{target}: (.*)$", makefile, flags=re.MULTILINE)
        assert "fonts" in needs.split(), target
