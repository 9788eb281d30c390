"""The demo image's Dockerfile: structure, and its start command run on this machine.

No Docker engine runs in CI, so the tests at the end run the Dockerfile's CMD and
HEALTHCHECK commands directly, with the port, the listen address and the paths
replaced, and open the app in headless Chromium to see the demo banner.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dockerfile
import pytest

from ials.limits import Limits, current_limits

from conftest import REPO_ROOT, http_get

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@pytest.fixture(scope="module")
def commands() -> list:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def instructions(commands, name: str) -> list:
    return [command for command in commands if command.cmd == name]


def env_values(commands) -> dict[str, str]:
    """Merge every ENV instruction into one dict, later values winning."""
    values: dict[str, str] = {}
    for command in instructions(commands, "ENV"):
        pairs = command.value
        assert len(pairs) % 2 == 0, f"ENV without key=value form: {command.original}"
        values.update(zip(pairs[0::2], pairs[1::2]))
    return values


def flag_value(argv: tuple[str, ...] | list[str], flag: str) -> str:
    index = argv.index(flag)
    return argv[index + 1]


def test_dockerfile_base_image(commands):
    assert commands[0].cmd == "FROM"
    assert commands[0].value == ("python:3.11-slim",)
    assert len(instructions(commands, "FROM")) == 1


def test_dockerfile_runs_as_non_root(commands):
    users = instructions(commands, "USER")
    assert users, "no USER instruction, so the server would run as root"
    final_user = users[-1].value[0]
    assert final_user not in ("root", "0")
    creates_user = [
        command for command in instructions(commands, "RUN")
        if "useradd" in command.value[0] and final_user in command.value[0]
    ]
    assert creates_user, f"no RUN useradd creates the user {final_user!r}"


def test_dockerfile_caches_requirements_layer(commands):
    lines = [(command.cmd, " ".join(command.value)) for command in commands]
    copy_requirements = lines.index(("COPY", "requirements.txt ./"))
    install = next(
        index for index, (cmd, text) in enumerate(lines)
        if cmd == "RUN" and "pip install -r requirements.txt" in text
    )
    copy_code = lines.index(("COPY", ". ."))
    assert copy_requirements < install < copy_code


def test_dockerfile_installs_runtime_requirements_only(commands):
    installs = [
        command.value[0] for command in instructions(commands, "RUN")
        if "pip install" in command.value[0]
    ]
    assert installs == ["pip install -r requirements.txt"]


def test_dockerfile_exposes_streamlit_port(commands):
    exposed = [port for command in instructions(commands, "EXPOSE") for port in command.value]
    assert exposed == ["8501"]


def test_dockerfile_healthcheck_endpoint(commands):
    (healthcheck,) = instructions(commands, "HEALTHCHECK")
    assert healthcheck.value[0] == "CMD"
    assert healthcheck.value[1] == "python"
    script = healthcheck.value[-1]
    assert "http://localhost:8501/_stcore/health" in script
    assert "--start-period=60s" in healthcheck.flags


def test_dockerfile_volumes(commands):
    volumes = {path for command in instructions(commands, "VOLUME") for path in command.value}
    assert volumes == {"/app/data", "/app/runs"}


def test_dockerfile_paths_match_volumes(commands):
    env = env_values(commands)
    assert env["IALS_DATA_DIR"] == "/app/data"
    assert env["IALS_RUNS_DIR"] == "/app/runs"


def test_dockerfile_numba_cache_writable(commands):
    env = env_values(commands)
    cache = env["NUMBA_CACHE_DIR"]
    chown = [
        command.value[0] for command in instructions(commands, "RUN")
        if "chown" in command.value[0]
    ]
    assert any(cache in text and "ials:ials" in text for text in chown)


def test_dockerfile_demo_limits_on(commands):
    env = env_values(commands)
    assert env["IALS_DEMO"] == "1"
    assert current_limits(env) == Limits(enabled=True)


def test_dockerfile_upload_limits_agree(commands):
    env = env_values(commands)
    assert env["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"] == env["IALS_DEMO_MAX_UPLOAD_MB"]


def test_dockerfile_workers_match_concurrency(commands):
    env = env_values(commands)
    assert env["IALS_WORKERS"] == env["IALS_DEMO_MAX_CONCURRENT"]


def test_dockerfile_cmd_serves_headless(commands):
    (cmd,) = instructions(commands, "CMD")
    argv = cmd.value
    assert cmd.json, "CMD must use the exec (JSON) form so signals reach Streamlit"
    assert argv[:3] == ("streamlit", "run", "app.py")
    assert flag_value(argv, "--server.headless") == "true"
    assert flag_value(argv, "--server.address") == "0.0.0.0"
    assert flag_value(argv, "--server.port") == "8501"
    assert flag_value(argv, "--browser.gatherUsageStats") == "false"


def test_dockerignore_excludes_local_state():
    patterns = {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", "data/*", "runs", "screenshots"):
        assert required in patterns
    assert "!data/README.md" in patterns


def local_command(argv, port: int) -> list[str]:
    """Rewrite an image command to run here: this venv's executables, 127.0.0.1, ``port``."""
    executables = {
        "streamlit": str(Path(sys.executable).with_name("streamlit")),
        "python": sys.executable,
    }
    local = [executables.get(argv[0], argv[0])]
    for arg in argv[1:]:
        arg = arg.replace("0.0.0.0", "127.0.0.1")
        arg = arg.replace("localhost:8501", f"127.0.0.1:{port}")
        local.append(str(port) if arg == "8501" else arg)
    return local


def image_env(commands, tmp_path: Path) -> dict[str, str]:
    """Return the image's ENV with its directories moved under tmp_path."""
    env = env_values(commands)
    for name in ("IALS_DATA_DIR", "IALS_RUNS_DIR", "NUMBA_CACHE_DIR"):
        local = tmp_path / Path(env[name]).name
        local.mkdir(exist_ok=True)
        env[name] = str(local)
    return env


@pytest.mark.slow
def test_dockerfile_cmd_serves_app(commands, tmp_path, serve_app, free_port):
    assert Path(sys.executable).with_name("streamlit").exists()
    (cmd,) = instructions(commands, "CMD")
    server = serve_app(
        command=local_command(cmd.value, free_port),
        env=image_env(commands, tmp_path),
        port=free_port,
    )

    status, body = http_get(f"{server.base_url}/_stcore/health")
    assert status == 200
    assert body.strip() == "ok"

    status, html = http_get(f"{server.base_url}/")
    assert status == 200
    assert '<div id="root">' in html

    (healthcheck,) = instructions(commands, "HEALTHCHECK")
    check = subprocess.run(
        local_command(healthcheck.value[1:], free_port), capture_output=True, text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stderr


def test_dockerfile_healthcheck_fails_when_down(commands, free_port):
    (healthcheck,) = instructions(commands, "HEALTHCHECK")
    check = subprocess.run(
        local_command(healthcheck.value[1:], free_port), capture_output=True, text=True,
        timeout=30,
    )
    assert check.returncode != 0


@pytest.mark.slow
@pytest.mark.browser
def test_dockerfile_app_shows_demo_banner(commands, tmp_path, serve_app, free_port):
    from playwright.sync_api import sync_playwright

    (cmd,) = instructions(commands, "CMD")
    server = serve_app(
        command=local_command(cmd.value, free_port),
        env=image_env(commands, tmp_path),
        port=free_port,
    )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(server.base_url, timeout=60_000)
            banner = page.get_by_text("Demo limits: embedding dimension d ≤ 256")
            banner.wait_for(timeout=60_000)
            assert "epochs ≤ 32" in banner.inner_text()
        finally:
            browser.close()
