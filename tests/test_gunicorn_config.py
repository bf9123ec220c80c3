"""gunicorn.conf.py reads `.env` the way the settings do (monolink/env.py): PORT, WEB_CONCURRENCY and
the trusted proxies in `.env` reach the web server, the environment wins over the file, and the
server says where it listens and with how many workers.

Each case loads the config file in a fresh interpreter, with monolink/env.py pointed at a `.env`
in a temporary directory instead of the project's."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# In a fresh process: point monolink.env at the temporary .env, load gunicorn.conf.py as a module,
# call its when_ready hook with a stand-in server, and print what gunicorn would use.
LOAD = """
import json, runpy, sys
from pathlib import Path
from types import SimpleNamespace
import monolink.env
monolink.env.DOT_ENV = Path(sys.argv[1])
config = runpy.run_path("gunicorn.conf.py")
lines = []
server = SimpleNamespace(
    LISTENERS=[config["bind"]],
    cfg=SimpleNamespace(workers=config["workers"]),
    log=SimpleNamespace(info=lambda message, *args: lines.append(message % args)),
)
config["when_ready"](server)
config["on_exit"](server)  # remove the metrics directory it made
print(json.dumps({key: config[key] for key in ("bind", "workers", "timeout", "forwarded_allow_ips")} | {"line": lines}))
"""


def gunicorn_config(tmp_path: Path, dot_env: str, **environment: str) -> dict:
    (tmp_path / ".env").write_text(dot_env)
    # This process's environment holds no monolink variable (monolink/test_settings.py removed them).
    env = {**os.environ, "DJANGO_READ_DOT_ENV_FILE": "true", **environment}
    done = subprocess.run(  # noqa: S603 (our own config file)
        [sys.executable, "-c", LOAD, str(tmp_path / ".env")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_port_workers_and_proxies_in_dot_env_reach_gunicorn(tmp_path):
    config = gunicorn_config(
        tmp_path, "PORT=8123\nWEB_CONCURRENCY=3\nGUNICORN_TIMEOUT_SECONDS=45\nFORWARDED_ALLOW_IPS=10.1.0.0/16\n"
    )

    assert (config["bind"], config["workers"], config["timeout"]) == ("127.0.0.1:8123", 3, 45)
    assert config["forwarded_allow_ips"] == "10.1.0.0/16"
    assert config["line"] == [
        "monolink listening on 127.0.0.1:8123 with 3 workers (settings from the environment and .env)"
    ]


def test_the_environment_wins_over_dot_env(tmp_path):
    config = gunicorn_config(tmp_path, "PORT=8123\nWEB_CONCURRENCY=3\n", PORT="8124")

    assert (config["bind"], config["workers"]) == ("127.0.0.1:8124", 3)


def test_dot_env_is_ignored_when_told_and_the_defaults_match_the_settings(tmp_path):
    config = gunicorn_config(tmp_path, "PORT=8123\nWEB_CONCURRENCY=3\n", DJANGO_READ_DOT_ENV_FILE="false")

    assert config["bind"] == "127.0.0.1:8000"
    assert config["forwarded_allow_ips"] == "127.0.0.1,::1"  # the one default, as settings have it
    assert config["line"][0].endswith("(settings from the environment)")


def test_a_retired_variable_in_dot_env_stops_gunicorn_naming_its_replacement(tmp_path):
    (tmp_path / ".env").write_text("GUNICORN_TIMEOUT=45\n")
    env = {**os.environ, "DJANGO_READ_DOT_ENV_FILE": "true"}

    done = subprocess.run(  # noqa: S603 (our own config file)
        [sys.executable, "-c", LOAD, str(tmp_path / ".env")], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert done.returncode != 0
    assert "GUNICORN_TIMEOUT was renamed GUNICORN_TIMEOUT_SECONDS" in done.stderr
