"""The re-auth page and its Reconnect click, with Mono healthy and with Mono hanging.

    .venv/bin/python bench/reauth_deadline.py [--pages 200] [--clicks 16] [--deadline 3]

gunicorn (4 sync workers, production settings, DEBUG off) on 127.0.0.1 with the real Mono client in
token mode, pointed first at a healthy stub (answers a re-auth token at once) and then at a socket
that accepts and never answers. A signed-in user with one flagged account loads /reconnect/ (which
must not call Mono) and clicks Reconnect (POST /reconnect/<id>/credential/, which mints a token at
Mono within MONO_REQUEST_DEADLINE). Targets (issue 11): with Mono hanging, the click's p99 ≤ the
deadline + 1 s and the page's p99 ≤ 1.2x its healthy p99; gunicorn's 30 s timeout never hit.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import free_port  # noqa: E402

ACCOUNT_ID = "5f171a530295e231abca0001"


class HealthyMono(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.dumps({"token": "tok_" + secrets.token_hex(16)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def hanging_socket() -> tuple[socket.socket, list[socket.socket]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    held: list[socket.socket] = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])  # never read from, never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return listener, held


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Site:
    def __init__(self, env: dict, mono_url: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**env, "MONO_API_BASE_URL": mono_url, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers=4", "--max-requests=0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,  # the app's JSON log lines: a worker timeout shows there
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(100):
            try:
                requests.get(self.url + "/accounts/login/", timeout=10)
                return
            except requests.RequestException:  # not listening yet, or still loading the app
                time.sleep(0.1)
        self.process.kill()  # never leave a half-started server behind
        raise SystemExit("gunicorn did not start")

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=40)
        if os.environ.get("BENCH_VERBOSE"):
            print(out[-5000:])
        return out


def sign_in(url: str) -> dict[str, str]:
    """The session and CSRF cookies, sent by hand: production cookies are Secure, this is plain HTTP."""
    https = {"X-Forwarded-Proto": "https"}  # as the TLS proxy in front would say (127.0.0.1 is trusted)
    first = requests.get(url + "/accounts/login/", headers=https, timeout=10)
    csrf = first.cookies["csrftoken"]
    answer = requests.post(
        url + "/accounts/login/",
        data={"username": "bench", "password": "bench-password-12345", "csrfmiddlewaretoken": csrf},
        headers={
            **https,
            "Cookie": f"csrftoken={csrf}",
            "Referer": url.replace("http://", "https://") + "/accounts/login/",
        },
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 302:
        raise SystemExit(f"sign-in failed: {answer.status_code}")
    return {"csrftoken": answer.cookies.get("csrftoken", csrf), "sessionid": answer.cookies["sessionid"]}


def measure(site: Site, *, pages: int, clicks: int) -> dict:
    cookies = sign_in(site.url)
    headers = {
        "X-Forwarded-Proto": "https",
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "X-CSRFToken": cookies["csrftoken"],
        "Referer": site.url.replace("http://", "https://") + "/reconnect/",
    }
    page = requests.get(site.url + "/reconnect/", headers=headers, timeout=40)
    match = re.search(r"/reconnect/(\d+)/credential/", page.text)
    if page.status_code != 200 or not match:
        raise SystemExit(f"the re-auth page did not show a Reconnect button ({page.status_code}): {page.text[:300]}")
    credential_url = site.url + match.group(0)

    page_times = []
    for _ in range(pages):
        started = time.monotonic()
        assert requests.get(site.url + "/reconnect/", headers=headers, timeout=40).status_code == 200
        page_times.append(time.monotonic() - started)

    def click(_):
        started = time.monotonic()
        response = requests.post(credential_url, headers=headers, timeout=40)
        return time.monotonic() - started, response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(click, range(clicks)))
    return {
        "page": page_times,
        "click": [seconds for seconds, _ in results],
        "click_statuses": sorted({status for _, status in results}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--clicks", type=int, default=16)
    parser.add_argument("--deadline", type=float, default=3.0, help="MONO_REQUEST_DEADLINE for the run (s)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="monolink-reauth-bench-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "MONO_", "TASKS_", "EMAIL_"))},
        "DJANGO_SETTINGS_MODULE": "monolink.settings",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MONO_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "MONO_SECRET_KEY": "test_sk_bench_not_a_real_key",
        "MONO_PUBLIC_KEY": "test_pk_bench_not_a_real_key",
        "MONO_REAUTH_MODE": "token",
        "MONO_API_VERSION": "v1",  # token mode is connect.js <= 2.0.2, Mono's v1 era
        "MONO_REQUEST_DEADLINE_SECONDS": str(args.deadline),
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "STATIC_ROOT": str(workdir / "static"),
        "TASKS_ALLOW_IN_PROCESS": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": "https://127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)  # as a release does
    setup = (
        "from accounts.models import User, LinkedAccount\n"
        "u = User.objects.create_user('bench', email='bench@example.com', password='bench-password-12345')\n"
        f"LinkedAccount.objects.create(user=u, mono_account_id='{ACCOUNT_ID}', institution_name='GTBank',"
        " reauth_required=True)\n"
    )
    subprocess.run([*manage, "shell", "-c", setup], cwd=ROOT, env=env, check=True)

    healthy = ThreadingHTTPServer(("127.0.0.1", 0), HealthyMono)
    threading.Thread(target=healthy.serve_forever, daemon=True).start()
    hanging, held = hanging_socket()
    runs = {}
    for name, url in [
        ("healthy", f"http://127.0.0.1:{healthy.server_address[1]}"),
        ("hanging", f"http://127.0.0.1:{hanging.getsockname()[1]}"),
    ]:
        print(f"== Mono {name}: {args.pages} page loads, {args.clicks} Reconnect clicks (4 at a time)", flush=True)
        site = Site(env, url)
        try:
            runs[name] = measure(site, pages=args.pages, clicks=args.clicks)
        finally:
            errors = site.stop()
        runs[name]["worker_timeouts"] = errors.count("WORKER TIMEOUT")
    healthy.shutdown()
    hanging.close()

    print()
    print(f"re-auth page and Reconnect click, gunicorn 4 workers, MONO_REQUEST_DEADLINE={args.deadline:g} s")
    print(f"{'Mono':8} {'page p50':>9} {'page p99':>9} {'click p50':>10} {'click p99':>10}  click HTTP  timeouts")
    for name, run in runs.items():
        print(
            f"{name:8} {statistics.median(run['page']) * 1000:7.1f}ms {percentile(run['page'], 99) * 1000:7.1f}ms "
            f"{statistics.median(run['click']):9.2f}s {percentile(run['click'], 99):9.2f}s  "
            f"{','.join(map(str, run['click_statuses'])):10}  {run['worker_timeouts']}"
        )
    page_ratio = percentile(runs["hanging"]["page"], 99) / percentile(runs["healthy"]["page"], 99)
    click_p99 = percentile(runs["hanging"]["click"], 99)
    print()
    print(
        f"click p99 with Mono hanging {click_p99:.2f} s ≤ deadline + 1 s = {args.deadline + 1:g} s: "
        f"{'PASS' if click_p99 <= args.deadline + 1 else 'MISS'}"
    )
    print(f"page p99 hanging / healthy = {page_ratio:.2f}x ≤ 1.2x: {'PASS' if page_ratio <= 1.2 else 'MISS'}")
    print(f"gunicorn worker timeouts: {sum(r['worker_timeouts'] for r in runs.values())}")
    print(f"Mono connections left hanging: {len(held)}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
